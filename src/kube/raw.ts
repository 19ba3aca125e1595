import * as k8s from '@kubernetes/client-node';
import type { Kube } from './client.js';
import { USER_AGENT } from './client.js';

/** The answer of a raw API request: status, body text, and the body parsed when it is JSON. */
export interface RawResponse {
  status: number;
  text: string;
  body: unknown;
}

/**
 * A GET (or other verb) on any API path, through the client's own request machinery (auth,
 * TLS, proxy from the kubeconfig). For paths the typed clients do not cover: list of any
 * resource by path, aggregated APIs (external.metrics.k8s.io), discovery.
 */
export async function rawRequest(
  kube: Kube,
  path: string,
  opts: { method?: 'GET' | 'DELETE'; query?: Record<string, string | undefined>; signal?: AbortSignal } = {},
): Promise<RawResponse> {
  // An apiserver restarting answers 503 (shutting down), refuses connections, then answers 429
  // (storage initialising) for a few seconds: asked again with a short growing backoff, like a health
  // probe, for up to TRANSIENT_WINDOW_MS, so a restart is survived by one-shot requests too.
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await requestOnce(kube, path, opts);
      // 503 only while the apiserver itself shuts down: an aggregated API's 503 is an answer.
      if (r.status !== 429 && !(r.status === 503 && /shutting down/i.test(r.text))) return r;
      if (Date.now() - started > TRANSIENT_WINDOW_MS || opts.signal?.aborted) return r;
    } catch (e) {
      if (opts.signal?.aborted || !isConnectionError(e)) throw e;
      const code = (e as { cause?: { code?: string } }).cause?.code;
      const problem = `${(e as Error).message}${code ? ` (${code})` : ''}`;
      if (Date.now() - started > TRANSIENT_WINDOW_MS) {
        throw new Error(`${opts.method ?? 'GET'} ${path}: the API has not answered for ${Math.round((Date.now() - started) / 1000)} s (${problem})`, {
          cause: e,
        });
      }
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, Math.min(250 * 2 ** attempt, 2000));
      function done() {
        clearTimeout(t);
        opts.signal?.removeEventListener('abort', done);
        resolve();
      }
      opts.signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/** How long one-shot requests keep asking through refused connections, 429 and a shutting-down 503. */
export const TRANSIENT_WINDOW_MS = 15_000;

/** A refused, reset or dropped connection (fetch's TypeError with a socket cause). Pure. */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { cause?: { code?: string } }).cause?.code ?? (e as { code?: string }).code;
  return (
    (e instanceof TypeError && /fetch failed/.test(e.message)) ||
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(code ?? '')
  );
}

async function requestOnce(
  kube: Kube,
  path: string,
  opts: { method?: 'GET' | 'DELETE'; query?: Record<string, string | undefined>; signal?: AbortSignal },
): Promise<RawResponse> {
  const cluster = kube.kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, v);
  const method = opts.method === 'DELETE' ? k8s.HttpMethod.DELETE : k8s.HttpMethod.GET;
  const ctx = new k8s.RequestContext(url.toString(), method);
  ctx.setHeaderParam('Accept', 'application/json');
  ctx.setHeaderParam('User-Agent', USER_AGENT);
  await kube.kc.applySecurityAuthentication(ctx);
  if (opts.signal) ctx.setSignal(opts.signal);
  const resp = await new k8s.IsomorphicFetchHttpLibrary().send(ctx).toPromise();
  const text = await resp.body.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (e.g. a proxy error page): callers use text
  }
  return { status: resp.httpStatusCode, text, body };
}

/** An API error with the HTTP status, so callers can tell 404/410/403 apart. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly path: string,
    readonly text: string,
  ) {
    const msg = (() => {
      try {
        return (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        return text;
      }
    })();
    super(`GET ${path}: HTTP ${status}: ${msg.slice(0, 300)}`);
    this.name = 'ApiError';
  }
}

/** GET a path and return its JSON body; throws ApiError on a non-2xx status. */
export async function getJson<T>(kube: Kube, path: string, query?: Record<string, string | undefined>, signal?: AbortSignal): Promise<T> {
  const r = await rawRequest(kube, path, { query, signal });
  if (r.status < 200 || r.status >= 300) throw new ApiError(r.status, path, r.text);
  return r.body as T;
}

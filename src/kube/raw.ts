import * as k8s from '@kubernetes/client-node';
import type { Kube } from './client.js';
import { USER_AGENT } from './client.js';
import { askThroughRestarts, isRestartAnswer } from './transient.js';

/** The answer of a raw API request: status, body text, and the body parsed when it is JSON. */
export interface RawResponse {
  status: number;
  text: string;
  body: unknown;
  /** Response headers, names in lower case (e.g. `date`: the API server's clock). */
  headers: Record<string, string>;
}

export interface RawOptions {
  method?: 'GET' | 'DELETE' | 'PATCH' | 'POST' | 'PUT';
  query?: Record<string, string | undefined>;
  /** A request body sent byte for byte (no typed serializer in between), with its content type. */
  body?: { text: string; contentType: string };
  signal?: AbortSignal;
}

/**
 * A GET (or other verb) on any API path, through the client's own request machinery (auth,
 * TLS, proxy from the kubeconfig). For paths the typed clients do not cover: list of any
 * resource by path, aggregated APIs (external.metrics.k8s.io), discovery.
 */
export async function rawRequest(kube: Kube, path: string, opts: RawOptions = {}): Promise<RawResponse> {
  return askThroughRestarts(() => requestOnce(kube, path, opts), {
    what: `${opts.method ?? 'GET'} ${path}`,
    askAgain: (r) => isRestartAnswer(r.status, r.text),
    signal: opts.signal,
    reach: kube.reach,
  });
}

async function requestOnce(kube: Kube, path: string, opts: RawOptions): Promise<RawResponse> {
  const cluster = kube.kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, v);
  const method = { GET: k8s.HttpMethod.GET, DELETE: k8s.HttpMethod.DELETE, PATCH: k8s.HttpMethod.PATCH, POST: k8s.HttpMethod.POST, PUT: k8s.HttpMethod.PUT }[
    opts.method ?? 'GET'
  ];
  const ctx = new k8s.RequestContext(url.toString(), method);
  ctx.setHeaderParam('Accept', 'application/json');
  if (opts.body) {
    ctx.setHeaderParam('Content-Type', opts.body.contentType);
    ctx.setBody(opts.body.text);
  }
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
  const headers = Object.fromEntries(Object.entries(resp.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status: resp.httpStatusCode, text, body, headers };
}

/** An API error with the HTTP status, so callers can tell 404/410/403 apart. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly path: string,
    readonly text: string,
    readonly method = 'GET',
  ) {
    const msg = (() => {
      try {
        return (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        return text;
      }
    })();
    super(`${method} ${path}: HTTP ${status}: ${msg.slice(0, 300)}`);
    this.name = 'ApiError';
  }
}

/** GET a path and return its JSON body; throws ApiError on a non-2xx status. */
export async function getJson<T>(kube: Kube, path: string, query?: Record<string, string | undefined>, signal?: AbortSignal): Promise<T> {
  const r = await rawRequest(kube, path, { query, signal });
  if (r.status < 200 || r.status >= 300) throw new ApiError(r.status, path, r.text);
  return r.body as T;
}

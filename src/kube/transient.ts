// An apiserver restarting answers 503 (shutting down), refuses connections, then answers 429
// (storage initialising) for a few seconds. One-shot requests, raw and typed alike, ask again
// with a short growing backoff, like a health probe, for up to TRANSIENT_WINDOW_MS, so a
// restart is survived by them as by the watches.
import * as k8s from '@kubernetes/client-node';

/** How long one-shot requests keep asking through refused connections, 429 and a shutting-down 503. */
export const TRANSIENT_WINDOW_MS = 15_000;

/**
 * Codes of a TLS handshake that failed: Node's own (ERR_TLS_*, e.g. ERR_TLS_CERT_ALTNAME_INVALID
 * for a hostname mismatch), OpenSSL's (ERR_SSL_*) and OpenSSL's certificate verification results
 * (UNABLE_TO_VERIFY_LEAF_SIGNATURE, SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED...).
 */
const TLS_CODE =
  /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|CRL_|ERROR_IN_(CERT|CRL)_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|INVALID_CA$|INVALID_PURPOSE$|PATH_LENGTH_EXCEEDED$)/;

/** The TLS failure under an error (fetch keeps it in `cause`, sometimes a level deeper): its code and message. Pure. */
export function tlsFailure(e: unknown): { code: string; message: string } | undefined {
  for (let cur = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (cur instanceof TlsError) return { code: cur.code, message: cur.detail };
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_CODE.test(code)) return { code, message: (cur as { message?: string }).message ?? code };
  }
  return undefined;
}

export const isTlsError = (e: unknown): boolean => tlsFailure(e) !== undefined;

/** What to check for a TLS failure, by its code. Pure. */
export function tlsHint(code: string): string {
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return "the server's certificate is outside its validity period: renew it, or check the runner's clock";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH')
    return "the server's certificate does not name the host in the kubeconfig's server URL: use a name the certificate holds, or set the cluster's tls-server-name";
  if (/SELF_SIGNED|UNABLE_TO_|INVALID_CA|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE/.test(code))
    return "the server's certificate is not signed by the CA the kubeconfig trusts: check the cluster's certificate-authority(-data) in the kubeconfig";
  if (/ALERT|BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA/.test(code))
    return "the server refused the client certificate: check the user's client-certificate(-data) and client-key(-data) in the kubeconfig";
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER/.test(code))
    return "the server does not speak TLS on that port: check the scheme and port of the kubeconfig's server URL";
  return "check the kubeconfig's server URL and certificates";
}

/** A request that failed in the TLS handshake: the API was reached but the connection was not trusted, which asking again does not cure. */
export class TlsError extends Error {
  constructor(
    readonly what: string,
    readonly code: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${what}: TLS error connecting to the Kubernetes API (${code}: ${detail}): ${tlsHint(code)}`, options);
    this.name = 'TlsError';
  }
}

/** `e` as a TlsError naming what was asked, when it is a TLS failure; else `e` itself. Pure. */
export function asTlsError(what: string, e: unknown): unknown {
  if (e instanceof TlsError) return e;
  const tls = tlsFailure(e);
  return tls ? new TlsError(what, tls.code, tls.message, { cause: e }) : e;
}

/** A refused, reset or dropped connection (fetch's TypeError with a socket cause); not a TLS failure. Pure. */
export function isConnectionError(e: unknown): boolean {
  if (isTlsError(e)) return false;
  const code = (e as { cause?: { code?: string } }).cause?.code ?? (e as { code?: string }).code;
  return (
    (e instanceof TypeError && /fetch failed/.test(e.message)) ||
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(code ?? '')
  );
}

/** An answer of an apiserver that is starting or stopping: 429, or 503 while it shuts down (an aggregated API's 503 is an answer). Pure. */
export const isRestartAnswer = (status: number, text: string): boolean => status === 429 || (status === 503 && /shutting down/i.test(text));

/** A typed client's failure that asking again may cure: no connection, or a restart answer. Pure. */
export function isTransientFailure(e: unknown): boolean {
  if (isConnectionError(e)) return true;
  if (e instanceof k8s.ApiException) return isRestartAnswer(e.code, typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? ''));
  return false;
}

/**
 * What the clients of one connection know about the API: down since a request gave up waiting
 * for it, until any request gets an answer. While down, requests ask once instead of waiting the
 * whole window again, so a run against a gone API (diagnostics, cleanup) fails in seconds, not
 * in a window per request.
 */
export interface Reachability {
  downSince?: number;
}

export interface AskOptions<T> {
  /** What is asked, for the error once the window is over ("GET /api/v1/nodes"). */
  what: string;
  /** An answer that is itself a restart answer, to ask again for (raw requests resolve with any status). */
  askAgain?: (answer: T) => boolean;
  signal?: AbortSignal;
  windowMs?: number;
  reach?: Reachability;
}

/**
 * Resolves with the first real answer of `ask`. A connection still failing after the window
 * becomes an error saying for how long the API has not answered (the last failure as cause);
 * a restart answer after the window is returned or thrown as it is.
 */
export async function askThroughRestarts<T>(ask: () => Promise<T>, opts: AskOptions<T>): Promise<T> {
  const reach = opts.reach ?? {};
  const windowMs = reach.downSince !== undefined ? 0 : (opts.windowMs ?? TRANSIENT_WINDOW_MS);
  const started = Date.now();
  const over = () => Date.now() - started >= windowMs || (opts.signal?.aborted ?? false);
  /** The last refused or dropped connection while asking: said when the asking ends without an answer. */
  let refused: unknown;
  const notAnswered = (e: unknown) => {
    const code = (e as { cause?: { code?: string } }).cause?.code;
    const problem = `${(e as Error).message}${code ? ` (${code})` : ''}`;
    return new Error(`${opts.what}: the API has not answered for ${Math.round((Date.now() - (reach.downSince ?? started)) / 1000)} s (${problem})`, {
      cause: e,
    });
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const answer = await ask();
      reach.downSince = undefined;
      if (!opts.askAgain?.(answer) || over()) return answer;
    } catch (e) {
      // A certificate problem is named as one at once: asking again only delays the same answer.
      if (isTlsError(e)) throw asTlsError(opts.what, e);
      // Ended by the caller's signal while the API was not answering: that is what happened, not the abort.
      if (opts.signal?.aborted) throw refused ? notAnswered(refused) : e;
      if (!isTransientFailure(e)) throw e;
      if (isConnectionError(e)) refused = e;
      if (over()) {
        if (!isConnectionError(e)) throw e;
        reach.downSince ??= started;
        throw notAnswered(e);
      }
    }
    await backoff(attempt, opts.signal);
  }
}

/** The pause before asking again: 250 ms doubling to 2 s, ended early by the signal. */
export function backoff(attempt: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(done, Math.min(250 * 2 ** attempt, 2000));
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The typed client with every method that returns a promise asked through restarts. The
 * library's clients are plain objects of async methods, so a Proxy covers them all.
 */
export function throughRestarts<T extends object>(api: T, name: string, reach: Reachability, signal?: AbortSignal): T {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const first: unknown = value.apply(target, args);
        if (!(first instanceof Promise)) return first;
        let calls = 0;
        return askThroughRestarts(() => (calls++ === 0 ? first : (value.apply(target, args) as Promise<unknown>)), {
          what: `${name}.${String(prop)}`,
          reach,
          signal,
        });
      };
    },
  });
}

/** The typed client with TLS failures named as such (TlsError), asked once: for the calls that are not asked through restarts. */
export function namingTls<T extends object>(api: T, name: string): T {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = value.apply(target, args);
        return result instanceof Promise
          ? result.catch((e: unknown) => {
              throw asTlsError(`${name}.${String(prop)}`, e);
            })
          : result;
      };
    },
  });
}

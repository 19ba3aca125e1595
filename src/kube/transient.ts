// An apiserver restarting answers 503 (shutting down), refuses connections, then answers 429
// (storage initialising) for a few seconds. One-shot requests, raw and typed alike, ask again
// with a short growing backoff, like a health probe, for up to TRANSIENT_WINDOW_MS, so a
// restart is survived by them as by the watches.
import * as k8s from '@kubernetes/client-node';

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
  for (let attempt = 0; ; attempt++) {
    try {
      const answer = await ask();
      reach.downSince = undefined;
      if (!opts.askAgain?.(answer) || over()) return answer;
    } catch (e) {
      if (opts.signal?.aborted || !isTransientFailure(e)) throw e;
      if (over()) {
        if (!isConnectionError(e)) throw e;
        reach.downSince ??= started;
        const code = (e as { cause?: { code?: string } }).cause?.code;
        const problem = `${(e as Error).message}${code ? ` (${code})` : ''}`;
        throw new Error(`${opts.what}: the API has not answered for ${Math.round((Date.now() - reach.downSince) / 1000)} s (${problem})`, { cause: e });
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
export function throughRestarts<T extends object>(api: T, name: string, reach: Reachability): T {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const first: unknown = value.apply(target, args);
        if (!(first instanceof Promise)) return first;
        let calls = 0;
        return askThroughRestarts(() => (calls++ === 0 ? first : (value.apply(target, args) as Promise<unknown>)), { what: `${name}.${String(prop)}`, reach });
      };
    },
  });
}

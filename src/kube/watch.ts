import * as core from '@actions/core';
import * as k8s from '@kubernetes/client-node';
import { dedicatedConnection, type DedicatedConnection, type Kube } from './client.js';
import { ApiError, getJson } from './raw.js';
import { asTlsError, isTlsError } from './transient.js';

export interface WatchEvent<T> {
  type: string;
  object: T;
  receivedAt: Date;
}

export interface WatchUntilOptions<T extends k8s.KubernetesObject, R> {
  /** List path, e.g. '/api/v1/nodes' or '/api/v1/namespaces/ns/pods'. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  signal: AbortSignal;
  /** What is awaited, for progress logs and the abort message. */
  describe: string;
  /** Returns a result once the awaited state holds; evaluated after every list and event. May throw to fail fast. */
  until: (items: ReadonlyMap<string, T>, event?: WatchEvent<T>) => R | undefined;
  /** One-line summary of the current state for progress logs and the abort message (default: the object count). */
  state?: (items: ReadonlyMap<string, T>) => string;
  /** Progress sink (default core.info). */
  log?: (message: string) => void;
  /** Skip the initial list and start watching from this resourceVersion (resume; tests force a 410 with it). */
  resourceVersion?: string;
  /** Server-side watch timeout; the watch resumes after it (default 290 s). */
  timeoutSeconds?: number;
  /**
   * Told when the set `until` sees stops being current (a list or the watch failing: the API is
   * not answering) and when it is current again (a list answered, or an event came, and `until`
   * has seen it). Before the first list it is not current.
   */
  onCurrent?: (current: boolean) => void;
}

/** Thrown when the signal aborts before `until` held; carries the last state seen. */
export class WatchAbortedError extends Error {
  constructor(
    readonly describe: string,
    readonly lastState: string,
    readonly reason: unknown,
  ) {
    super(`${describe}: not reached before ${abortReasonText(reason)}; last seen: ${lastState}`);
    this.name = 'WatchAbortedError';
  }
}

export function abortReasonText(reason: unknown): string {
  if (reason instanceof Error) return reason.name === 'TimeoutError' ? 'the stage timeout' : reason.message;
  return reason === undefined ? 'cancellation' : String(reason);
}

export const objectKey = (o: k8s.KubernetesObject): string => (o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : `${o.metadata?.name}`);

/** Applies one watch event to the local set; returns false for events that carry no object change. */
export function applyEvent<T extends k8s.KubernetesObject>(items: Map<string, T>, type: string, obj: T): boolean {
  switch (type) {
    case 'ADDED':
    case 'MODIFIED':
      items.set(objectKey(obj), obj);
      return true;
    case 'DELETED':
      items.delete(objectKey(obj));
      return true;
    default:
      return false;
  }
}

/** A watch ERROR event or a failed request that means "your resourceVersion is too old: relist". */
export function isGone(errOrStatus: unknown): boolean {
  const e = errOrStatus as { code?: number; statusCode?: number; status?: number; reason?: string } | undefined;
  return e?.code === 410 || e?.statusCode === 410 || e?.status === 410 || e?.reason === 'Expired' || e?.reason === 'Gone';
}

/** Backoff before reconnecting after a failed connection (not a poll: a retry delay, reset by any event). */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** attempt, 5000);
}

interface ListBody<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

/** How many times a paginated list starts over after its continue token expired, before the 410 is let through. */
export const MAX_RELISTS = 5;

/**
 * Lists every page (limit 500). A continue token the server no longer honours (410 Gone: the
 * list's snapshot was compacted while paging) makes the list start again from the first page,
 * as client-go's pager does, since the pages already read and the ones to come would not be one
 * consistent snapshot.
 */
export async function listAll<T extends k8s.KubernetesObject>(
  kube: Kube,
  opts: Pick<WatchUntilOptions<T, unknown>, 'path' | 'labelSelector' | 'fieldSelector' | 'signal'> & { log?: (message: string) => void; limit?: number },
): Promise<{ items: Map<string, T>; resourceVersion: string; relists: number }> {
  let items = new Map<string, T>();
  let cont: string | undefined;
  let rv = '';
  let relists = 0;
  for (;;) {
    let body: ListBody<T>;
    try {
      body = await getJson<ListBody<T>>(
        kube,
        opts.path,
        { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: String(opts.limit ?? 500), continue: cont },
        opts.signal,
      );
    } catch (e) {
      if (!(cont && e instanceof ApiError && e.status === 410 && relists < MAX_RELISTS)) throw e;
      relists++;
      opts.log?.(`list ${opts.path}: the continue token expired (410 Gone) after ${items.size} object(s); listing again from the start`);
      items = new Map<string, T>();
      cont = undefined;
      continue;
    }
    for (const o of body.items ?? []) items.set(objectKey(o), o);
    rv = body.metadata?.resourceVersion ?? rv;
    cont = body.metadata?.continue || undefined;
    if (!cont) return { items, resourceVersion: rv, relists };
  }
}

type Outcome = { kind: 'closed' } | { kind: 'gone' } | { kind: 'error'; error: unknown };

/**
 * Lists, then watches from the list's resourceVersion, re-evaluating `until` with the current set
 * on every event; resumes from the last resourceVersion when the connection drops, relists on
 * 410 Gone, and rejects with WatchAbortedError when the signal aborts.
 */
export async function watchUntil<T extends k8s.KubernetesObject, R>(kube: Kube, opts: WatchUntilOptions<T, R>): Promise<R> {
  const log = opts.log ?? ((m: string) => core.info(m));
  const summarize = (items: ReadonlyMap<string, T>) => (opts.state ? opts.state(items) : `${items.size} object(s)`);
  let items = new Map<string, T>();
  let rv = opts.resourceVersion ?? '';
  let needList = rv === '';
  let lastLog = Date.now();
  let attempt = 0;
  let controller: AbortController | undefined;
  // The connection of the current watch: closed when it ends, and at once on abort, also while
  // it is still connecting (before the library hands out its controller).
  let connection: DedicatedConnection | undefined;
  const closeConnection = () => {
    controller?.abort();
    connection?.close();
  };

  // Since when the API has not answered (list or watch failing), so a wait that ends during an
  // outage says so instead of only showing the last state it saw.
  let unreachable: { since: number; error: string } | undefined;
  let current = false;
  const setCurrent = (now: boolean) => {
    if (now !== current) opts.onCurrent?.((current = now));
  };
  const failing = (error: string) => {
    unreachable = { since: unreachable?.since ?? Date.now(), error };
    setCurrent(false);
  };
  const outage = () => (unreachable ? `; the API has not answered for ${Math.round((Date.now() - unreachable.since) / 1000)} s (${unreachable.error})` : '');
  const aborted = () => new WatchAbortedError(opts.describe, summarize(items) + outage(), opts.signal.reason);
  // Every wait below also settles on abort, so the signal ends the watch promptly.
  let onAbort: (() => void) | undefined;
  const abortPromise = new Promise<never>((_, reject) => {
    onAbort = () => {
      closeConnection();
      reject(aborted());
    };
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
  });
  abortPromise.catch(() => undefined);
  const progress = setInterval(() => {
    log(`${opts.describe}: waiting; ${summarize(items)}`);
    lastLog = Date.now();
  }, 15_000);
  progress.unref();

  try {
    for (;;) {
      if (opts.signal.aborted) throw aborted();
      if (needList) {
        let listed;
        try {
          listed = await Promise.race([listAll<T>(kube, { ...opts, log }), abortPromise]);
        } catch (e) {
          if (e instanceof WatchAbortedError) throw e;
          if (isTlsError(e)) throw asTlsError(`list ${opts.path}`, e);
          if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 429) throw e;
          log(`${opts.describe}: list failed (${(e as Error).message}); retrying`);
          failing((e as Error).message);
          await delay(reconnectDelayMs(attempt++), abortPromise);
          continue;
        }
        unreachable = undefined;
        items = listed.items;
        rv = listed.resourceVersion;
        needList = false;
        const r = opts.until(items);
        if (r !== undefined) return r;
        setCurrent(true);
      }

      // One watch connection; settles with the result, or with how it ended.
      let events = 0;
      let settle!: (v: { result: R } | Outcome) => void;
      const ended = new Promise<{ result: R } | Outcome>((res) => (settle = res));
      closeConnection();
      connection = dedicatedConnection(kube.kc);
      const w = new k8s.Watch(connection.kc);
      // The client's default inactivity timeout (30 s) would cut quiet watches; the server's timeoutSeconds ends them first.
      (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = ((opts.timeoutSeconds ?? 290) + 30) * 1000;
      controller = await Promise.race([
        w.watch(
          opts.path,
          {
            resourceVersion: rv,
            allowWatchBookmarks: true,
            labelSelector: opts.labelSelector,
            fieldSelector: opts.fieldSelector,
            timeoutSeconds: opts.timeoutSeconds ?? 290,
          },
          (type: string, obj: T) => {
            if (type === 'ERROR') {
              settle(isGone(obj) ? { kind: 'gone' } : { kind: 'error', error: obj });
              return;
            }
            attempt = 0;
            unreachable = undefined;
            events++;
            const objRv = obj?.metadata?.resourceVersion;
            if (objRv) rv = objRv;
            if (!applyEvent(items, type, obj)) {
              setCurrent(true); // BOOKMARK: only the resourceVersion moves, the set is as the server has it
              return;
            }
            try {
              const r = opts.until(items, { type, object: obj, receivedAt: new Date() });
              if (r !== undefined) settle({ result: r });
              else setCurrent(true);
            } catch (e) {
              settle({ kind: 'error', error: new UntilThrew(e) });
            }
            if (Date.now() - lastLog > 15_000) {
              log(`${opts.describe}: ${summarize(items)}`);
              lastLog = Date.now();
            }
          },
          (err: unknown) => settle(err ? (isGone(err) ? { kind: 'gone' } : { kind: 'error', error: err }) : { kind: 'closed' }),
        ),
        abortPromise,
      ]);
      const outcome = await Promise.race([ended, abortPromise]);
      closeConnection();
      if ('result' in outcome) return outcome.result;
      if (outcome.kind === 'gone') {
        log(`${opts.describe}: resourceVersion ${rv} expired (410 Gone); relisting`);
        needList = true;
      } else if (outcome.kind === 'error') {
        if (outcome.error instanceof UntilThrew) throw outcome.error.cause;
        // A certificate the client does not trust will not be trusted on the next connection either.
        if (isTlsError(outcome.error)) throw asTlsError(`watch ${opts.path}`, outcome.error);
        const status = (outcome.error as { statusCode?: number; code?: number }).statusCode ?? (outcome.error as { code?: number }).code;
        if (status === 403 || status === 401 || status === 404) {
          throw new Error(`${opts.describe}: watch ${opts.path} refused: HTTP ${status} ${describeError(outcome.error)}`);
        }
        log(`${opts.describe}: watch connection dropped (${describeError(outcome.error)}); resuming from resourceVersion ${rv}`);
        failing(describeError(outcome.error));
        await delay(reconnectDelayMs(attempt++), abortPromise);
      } else {
        // The server ended the watch (timeoutSeconds, or a proxy cut it): resume from rv, at once
        // after a served watch, with backoff when it closed without serving anything.
        log(`${opts.describe}: watch ended by the server; resuming from resourceVersion ${rv}`);
        if (events === 0) await delay(reconnectDelayMs(attempt++), abortPromise);
      }
    }
  } finally {
    clearInterval(progress);
    closeConnection();
    if (onAbort) opts.signal.removeEventListener('abort', onAbort);
  }
}

class UntilThrew extends Error {
  constructor(readonly cause: unknown) {
    super('until threw');
  }
}

function describeError(e: unknown): string {
  if (e instanceof Error) return e.message + (e.cause instanceof Error ? ` (${e.cause.message})` : '');
  const s = e as { message?: string } | undefined;
  return s?.message ?? JSON.stringify(e);
}

/** A retry backoff that ends early (rejecting) when the watch is aborted. */
function delay(ms: number, abortPromise: Promise<never>): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([new Promise<void>((res) => (t = setTimeout(res, ms))), abortPromise]).finally(() => clearTimeout(t));
}

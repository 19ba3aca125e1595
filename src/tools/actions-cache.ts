// The GitHub Actions cache as the second place a tool or a Karpenter build is looked for, after
// the runner's tool cache: a hosted runner is a fresh VM every job, so only this cache survives.
// An entry is the tool-cache directory itself, restored to the same path (the tool cache is then
// warm for the rest of the job). Nothing here fails a run: a service that is down, errs or holds
// the key already costs a warning and the time it took, and the run goes on.
import { existsSync, lstatSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import * as cache from '@actions/cache';
import { ensureToolCacheEnv } from './cache-env.js';

/** Where an item of the run came from, for results.json. */
export type CacheSource = 'tool-cache' | 'actions-cache' | 'built' | 'downloaded' | 'path';

export interface ActionsCacheOptions {
  /** The cache input: false sends no request to the cache service. */
  enabled: boolean;
  log: (message: string) => void;
  warn: (message: string) => void;
}

export interface Restored {
  /** unusable: restored but incomplete or damaged (removed); failed: the service or the extraction failed. */
  status: 'hit' | 'miss' | 'failed' | 'unusable' | 'off';
  /** The tool-cache dir the entry was restored into (status hit). */
  dir?: string;
  /** Size of the restored directory. */
  bytes?: number;
  ms: number;
}

export interface Saved {
  saved: boolean;
  bytes: number;
  ms: number;
}

/** Is the Actions cache service there (a runner sets ACTIONS_RESULTS_URL, or ACTIONS_CACHE_URL for the old service)? */
export function actionsCacheAvailable(): boolean {
  try {
    return cache.isFeatureAvailable();
  } catch {
    return false;
  }
}

/** The dir @actions/tool-cache keeps name@version in (cacheDir's own layout), and its completion marker. */
export function toolCacheDir(name: string, version: string, cpu: string = arch()): string {
  return join(ensureToolCacheEnv(), name, version, cpu);
}

/**
 * The Actions-cache key of a tool-cache entry: one entry per name, version and platform (the
 * version of a Karpenter build already holds its mode, Go version and target). Keys take no commas.
 */
export function actionsCacheKey(name: string, version: string, platform: string): string {
  return `gpu-autoscaling-conformance-${name}-${version}-${platform.replace('/', '-')}`.replace(/[,\s]/g, '_');
}

/** Bytes of the files under a directory (symlinks not followed). */
export function dirBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += dirBytes(p);
    else total += lstatSync(p).size;
  }
  return total;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Runs a call of the cache library and returns what it said about a failure. The library never
 * throws for a service error: it logs it (warning, error or info) and answers "nothing"
 * (undefined, -1), so its own words are taken from the log it writes as it goes through.
 */
async function withFailureText<T>(call: () => Promise<T>): Promise<{ value: T; failure?: string }> {
  const write = process.stdout.write;
  let failure: string | undefined;
  const seen = (chunk: unknown) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
    for (const line of text.split('\n')) {
      const m = /(Failed to (?:restore|save): .*|Cache reservation failed: .*|Unable to (?:reserve|finalize) cache.*)$/.exec(line.trim());
      if (m) failure = m[1]!.replace(/%0A/g, ' ').trim();
    }
  };
  process.stdout.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
    seen(chunk);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof process.stdout.write;
  try {
    return { value: await call(), failure };
  } finally {
    process.stdout.write = write;
  }
}

/**
 * Restores an entry into the tool-cache dir of name@version. `usable` checks what was restored
 * (a truncated or foreign entry is removed and reported unusable, never used); only then is the
 * tool cache's completion marker written, so tc.find finds it later in the job.
 */
export async function restoreToToolCache(
  what: string,
  dir: string,
  key: string,
  usable: (dir: string) => boolean,
  opts: ActionsCacheOptions,
): Promise<Restored> {
  if (!opts.enabled || !actionsCacheAvailable()) return { status: 'off', ms: 0 };
  const started = Date.now();
  let matched: string | undefined;
  let failure: string | undefined;
  try {
    ({ value: matched, failure } = await withFailureText(() => cache.restoreCache([dir], key)));
  } catch (err) {
    failure = (err as Error).message;
  }
  const ms = Date.now() - started;
  if (!matched) {
    // A failed extraction may leave part of a tree: tool-cache installs start from an empty dir.
    rmSync(dir, { recursive: true, force: true });
    if (failure) {
      opts.warn(`Actions cache: could not restore ${what} (key ${key}): ${failure}; going on without it (it cost ${seconds(ms)})`);
      return { status: 'failed', ms };
    }
    opts.log(`${what}: not in the Actions cache (key ${key}, looked up in ${seconds(ms)})`);
    return { status: 'miss', ms };
  }
  if (!existsSync(dir) || !usable(dir)) {
    rmSync(dir, { recursive: true, force: true });
    opts.warn(`Actions cache: the entry ${key} restored for ${what} is incomplete or damaged, so it is not used; rebuilding (cost ${seconds(ms)})`);
    return { status: 'unusable', ms };
  }
  writeFileSync(`${dir}.complete`, '');
  const bytes = dirBytes(dir);
  opts.log(`${what}: restored from the Actions cache (key ${key}, ${bytes} bytes in ${seconds(ms)}) into ${dir}`);
  return { status: 'hit', dir, bytes, ms };
}

/**
 * Saves a tool-cache dir under key once what it holds was built or verified. saveCache answers -1
 * (after its own message) when the service fails or another job saved the key first: a warning
 * with what the attempt cost, and a fresh runner will do the work again.
 */
export async function saveFromToolCache(what: string, dir: string, key: string, opts: ActionsCacheOptions, redo: string): Promise<Saved | undefined> {
  if (!opts.enabled || !actionsCacheAvailable()) return undefined;
  const bytes = dirBytes(dir);
  const started = Date.now();
  let id = -1;
  let reason = 'the service refused or failed, or another job saved this key first';
  try {
    const r = await withFailureText(() => cache.saveCache([dir], key));
    id = r.value;
    if (r.failure) reason = r.failure;
  } catch (err) {
    reason = (err as Error).message;
  }
  const ms = Date.now() - started;
  if (id === -1) {
    opts.warn(`Actions cache: ${what} not saved under key ${key}: ${reason}; it cost ${seconds(ms)}, and a fresh runner will ${redo}`);
    return { saved: false, bytes, ms };
  }
  opts.log(`${what}: saved to the Actions cache (key ${key}, ${bytes} bytes in ${seconds(ms)})`);
  return { saved: true, bytes, ms };
}

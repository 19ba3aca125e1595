import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runnerTemp } from '../paths.js';
import { createServer } from 'node:net';
import type { RunState } from '../types.js';
import { scrubbedEnv } from './child-env.js';
import { tail } from './exec.js';

export interface ProcessEnvOptions {
  kubeconfig: string;
  instanceTypesFile: string;
  metricsPort: number;
  healthPort: number;
  systemNamespace: string;
  logLevel?: string;
}

/**
 * The environment Karpenter's KWOK provider reads out of cluster (over `base` without the
 * runner's secrets, src/tools/child-env.ts): KUBECONFIG (it has no flag),
 * no leader election (one replica, and no Lease left behind), custom instance types (the
 * embedded ones have no GPUs), and ports nobody else holds.
 */
export function karpenterProcessEnv(base: NodeJS.ProcessEnv, o: ProcessEnvOptions): NodeJS.ProcessEnv {
  return {
    ...scrubbedEnv(base),
    KUBECONFIG: o.kubeconfig,
    DISABLE_LEADER_ELECTION: 'true',
    INSTANCE_TYPES_FILE_PATH: o.instanceTypesFile,
    METRICS_PORT: String(o.metricsPort),
    HEALTH_PROBE_PORT: String(o.healthPort),
    SYSTEM_NAMESPACE: o.systemNamespace,
    LOG_LEVEL: o.logLevel ?? 'info',
  };
}

/** A port the OS says is free on loopback now (the child binds it moments later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function healthUrl(port: number): string {
  return `http://127.0.0.1:${port}/readyz`;
}

export interface Started {
  pid: number;
  child: ChildProcess;
  healthUrl: string;
  logFile?: string;
}

/**
 * Starts Karpenter detached (its own process group, so the post step can stop it after main
 * exits), output to `logFile`, and resolves once its readiness probe answers 200. Rejects at
 * once with the log tail if it exits first, or when `signal` aborts (stopping it then).
 */
export async function startKarpenterProcess(o: {
  binary: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  healthPort: number;
  signal: AbortSignal;
  /** Called as soon as the child has a pid, before it is ready: the post step must know it from then on. */
  onSpawn?: (pid: number) => void;
}): Promise<Started> {
  const fd = openSync(o.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(o.binary, [], { env: o.env, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  child.unref();
  if (child.pid) o.onSpawn?.(child.pid);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, sig) => resolve(`exited with ${code ?? sig}`));
    child.once('error', (err) => resolve(`could not start: ${err.message}`));
  });
  const url = healthUrl(o.healthPort);
  try {
    await waitReady(url, exited, o.signal);
  } catch (err) {
    if (child.exitCode === null && child.pid) await stopPid(child.pid, child);
    const log = existsSync(o.logFile) ? tail(readFileSync(o.logFile, 'utf8'), 30) : '';
    throw new Error(`${(err as Error).message}${log ? `\nlast lines of ${o.logFile}:\n${log}` : ''}`, { cause: err });
  }
  if (!child.pid) throw new Error(`${o.binary} did not start`);
  return { pid: child.pid, child, healthUrl: url, logFile: o.logFile };
}

/**
 * Asks the probe until it says 200. Connection refused (not listening yet) or 500 (caches not
 * synced) are retried after a tiny backoff; the child's exit and the abort end the wait at once.
 */
async function waitReady(url: string, exited: Promise<string>, signal: AbortSignal): Promise<void> {
  let backoff = 50;
  let last = 'no answer yet';
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(new Error(`Karpenter not ready at ${url} before the stage deadline (last: ${last})`));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  const died = exited.then((how) => {
    throw new Error(`Karpenter ${how} before it was ready`);
  });
  died.catch(() => undefined);
  for (;;) {
    const attempt = fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) }).then(
      async (r) => ((last = `HTTP ${r.status} ${(await r.text()).slice(0, 200)}`), r.ok),
      (err: Error) => ((last = String((err.cause as Error | undefined)?.message ?? err.message)), false),
    );
    if (await Promise.race([attempt, died, aborted])) return;
    await Promise.race([new Promise((r) => setTimeout(r, backoff)), died, aborted]);
    backoff = Math.min(backoff * 2, 1000);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** On Linux, whether the pid still runs the Karpenter binary (elsewhere: assume so). */
function isKarpenter(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('karpenter-kwok');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || !existsSync('/proc/self');
  }
}

/** SIGTERM to the process group, SIGKILL after 10 s; resolves when the process is gone. */
async function stopPid(pid: number, child?: ChildProcess): Promise<void> {
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  if (!alive(pid)) return;
  if (!child && !isKarpenter(pid)) return; // the pid was reused by another program: not ours to end
  kill('SIGTERM');
  if (child && child.exitCode === null && child.signalCode === null) {
    // Our own child: its exit event says when it is gone.
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    const timer = setTimeout(() => kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
    return;
  }
  // Not our child (the post step): no exit event to wait on, so check with signal 0 on a short backoff.
  const deadline = Date.now() + 10_000;
  let wait = 20;
  while (alive(pid)) {
    if (Date.now() > deadline) kill('SIGKILL');
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 500);
  }
}

/** The child started by this process, when it is (lets stop wait on its exit event). */
const children = new Map<number, ChildProcess>();
/** Per child: aborted when it exits without stopKarpenterProcess asking it to. */
const lost = new Map<number, AbortController>();

/**
 * Keeps the child for stopKarpenterProcess, and watches it: an exit nobody asked for aborts
 * karpenterLost(run) with the pid, how it ended and its log tail, so waits fail at once.
 */
export function rememberChild(started: Started): void {
  children.set(started.pid, started.child);
  const ctl = new AbortController();
  lost.set(started.pid, ctl);
  started.child.once('exit', (code, sig) => {
    if (!children.has(started.pid)) return; // stopped on purpose
    const log = started.logFile && existsSync(started.logFile) ? tail(readFileSync(started.logFile, 'utf8'), 10) : '';
    ctl.abort(new Error(`Karpenter (pid ${started.pid}) exited with ${code ?? sig} while the run needed it${log ? `; last lines of its log:\n${log}` : ''}`));
  });
}

/** Aborted (reason: an Error saying how Karpenter ended, with its log tail) when this run's Karpenter child exits unasked; undefined when this process started none. */
export function karpenterLost(run: Pick<RunState, 'karpenterPid'>): AbortSignal | undefined {
  return run.karpenterPid ? lost.get(run.karpenterPid)?.signal : undefined;
}

/** Whether this run's Karpenter process still runs (false when none was started or it is gone). */
export function karpenterRunning(run: Pick<RunState, 'karpenterPid'>): boolean {
  return run.karpenterPid !== undefined && alive(run.karpenterPid) && isKarpenter(run.karpenterPid) && !karpenterLost(run)?.aborted;
}

/** Where a run keeps what must not reach the evidence (the kubeconfig written for Karpenter). */
export function privateDir(runId: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(runnerTemp(env), 'gpu-autoscaling-conformance-private', runId);
}

/** Stops the Karpenter process of this run and removes its private files (idempotent). */
export async function stopKarpenterProcess(run: RunState): Promise<void> {
  const pid = run.karpenterPid;
  if (pid) {
    const child = children.get(pid);
    children.delete(pid); // before the signal: this exit is asked for
    await stopPid(pid, child);
    lost.delete(pid);
    run.karpenterPid = undefined;
  }
  rmSync(privateDir(run.runId), { recursive: true, force: true });
}

/** The last lines of the Karpenter process's log, for diagnostics. */
export function karpenterLogTail(run: RunState, lines = 50): string {
  if (!run.karpenterLog || !existsSync(run.karpenterLog)) return '';
  return tail(readFileSync(run.karpenterLog, 'utf8'), lines);
}

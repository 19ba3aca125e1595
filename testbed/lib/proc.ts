// Process and readiness helpers shared by testbed/up, testbed/down and testbed/lib/bed.ts.
// Components run detached (own session) with output appended to one log file each; what is
// needed to start one again (argv, env, readiness probe) is recorded in bed.json, so tests can
// stop and restart a component exactly as `up` started it.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** How to tell a component is ready: an HTTP(S) GET answering 2xx. */
export interface Probe {
  url: string;
  /** CA bundle file to verify the server with (https). */
  ca?: string;
  /** Client certificate and key files (https endpoints that need authentication). */
  cert?: string;
  key?: string;
}

export interface ComponentRecord {
  pid: number;
  log: string;
  port?: number;
  /** argv; cmd[0] is an absolute path. */
  cmd: string[];
  env?: Record<string, string>;
  ready?: Probe;
}

/** Starts a command detached from us (own session), stdout and stderr appended to `log`. */
export function spawnDetached(cmd: string[], log: string, env?: Record<string, string>): number {
  const fd = openSync(log, 'a');
  try {
    const child = spawn(cmd[0], cmd.slice(1), {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
    });
    if (child.pid === undefined) throw new Error(`could not start ${cmd[0]}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie (exited, not yet reaped by its parent) counts as gone
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** True when `pid` is alive and still runs `exe` (guards against a recycled PID). */
export function runs(pid: number, exe: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes(exe);
  } catch {
    return false;
  }
}

/** One GET; resolves to the status code, or 0 when the connection failed. */
export function get(p: Probe, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const u = new URL(p.url);
    const opts = {
      method: 'GET',
      timeout: timeoutMs,
      ...(u.protocol === 'https:'
        ? {
            ca: p.ca ? readFileSync(p.ca) : undefined,
            cert: p.cert ? readFileSync(p.cert) : undefined,
            key: p.key ? readFileSync(p.key) : undefined,
          }
        : {}),
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Re-evaluates `check` until it holds, failing early through `failFast`; the interval is a
 * probe cadence (the condition lives in another process with no event to wait on).
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  opts: { timeoutMs: number; intervalMs?: number; failFast?: () => string | undefined },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await check()) return;
    const fatal = opts.failFast?.();
    if (fatal) throw new Error(`${what}: ${fatal}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${opts.timeoutMs / 1000}s`);
    await delay(opts.intervalMs ?? 100);
  }
}

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Waits for a component's probe to answer 2xx; fails at once if its process exits. */
export async function waitReady(name: string, c: ComponentRecord, timeoutMs = 120_000): Promise<void> {
  if (!c.ready) return;
  const probe = c.ready;
  await waitUntil(
    `${name} (${probe.url})`,
    async () => {
      const { status } = await get(probe);
      return status >= 200 && status < 300;
    },
    {
      timeoutMs,
      failFast: () => (isAlive(c.pid) ? undefined : `process ${c.pid} exited; last log lines (${c.log}):\n${tail(c.log)}`),
    },
  );
}

/** Starts a recorded component again (new PID, same argv, env, log) and waits until it is ready. */
export async function restart(name: string, c: ComponentRecord, timeoutMs?: number): Promise<ComponentRecord> {
  const pid = spawnDetached(c.cmd, c.log, c.env);
  const next = { ...c, pid };
  try {
    await waitReady(name, next, timeoutMs);
  } catch (e) {
    // not ready: leave nothing running that no record points to
    await stopPid(pid, c.cmd[0]);
    throw e;
  }
  return next;
}

/** Ends one recorded process: SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
export async function stopPid(pid: number, exe: string, graceMs = 15_000): Promise<boolean> {
  if (!runs(pid, exe)) return false;
  process.kill(pid, 'SIGTERM');
  try {
    await waitUntil(`pid ${pid}`, () => !isAlive(pid), { timeoutMs: graceMs, intervalMs: 50 });
  } catch {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await waitUntil(`pid ${pid} after SIGKILL`, () => !isAlive(pid), { timeoutMs: 10_000, intervalMs: 50 });
  }
  return true;
}

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { karpenterLogTail, privateDir, stopKarpenterProcess } from '../../src/tools/karpenter-process.js';
import type { RunState } from '../../src/types.js';
import { alive } from '../support/cluster.js';

// stopKarpenterProcess as the post step uses it: a pid from saved state, no child handle.
const runState = (pid: number | undefined, runId: string): RunState =>
  ({
    runId,
    karpenterPid: pid,
    helmReleases: [],
    appliedClusterObjects: [],
    toolPaths: {},
    versions: {},
    cache: [],
    timeline: [],
    outputs: {},
  }) as unknown as RunState;

let dir: string;
const env = { ...process.env };
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gac-stop-'));
  process.env.RUNNER_TEMP = dir;
});
afterAll(() => {
  process.env = env;
});

describe('stopKarpenterProcess', () => {
  it('ends a detached karpenter-kwok by its saved pid, and removes the run private dir', async () => {
    const bin = join(dir, 'karpenter-kwok');
    copyFileSync('/bin/sleep', bin);
    const child = spawn(bin, ['300'], { detached: true, stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    const run = runState(child.pid!, 'r1');
    mkdirSync(privateDir('r1'), { recursive: true });
    writeFileSync(join(privateDir('r1'), 'kubeconfig'), 'x');
    await stopKarpenterProcess(run);
    await exited;
    expect(alive(child.pid!)).toBe(false);
    expect(run.karpenterPid).toBeUndefined();
    expect(existsSync(privateDir('r1'))).toBe(false);
    await stopKarpenterProcess(run); // idempotent
  });

  it('leaves alone a pid that now runs another program (pid reuse)', async () => {
    const other = spawn('/bin/sleep', ['300'], { stdio: 'ignore' });
    try {
      await stopKarpenterProcess(runState(other.pid!, 'r2'));
      expect(alive(other.pid!)).toBe(true);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('log tail: the last lines of the saved log, empty without one', () => {
    const log = join(dir, 'k.log');
    writeFileSync(log, 'a\nb\nc\n');
    expect(karpenterLogTail({ ...runState(undefined, 'r3'), karpenterLog: log }, 2)).toBe('b\nc');
    expect(karpenterLogTail(runState(undefined, 'r3'))).toBe('');
  });
});

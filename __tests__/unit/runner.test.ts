import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFrom } from '../../src/inputs.js';
import { runStages, skipReasonFor } from '../../src/runner.js';
import { pass, skip, StageFailure, type Stage, type StageContext } from '../../src/stages/stage.js';
import type { StageName } from '../../src/types.js';
import { ROOT } from '../support/fixtures.js';

process.env.GAC_ACTION_ROOT = ROOT;
const evidenceDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-'));
const config = (inputs: Record<string, string> = {}) => configFrom({ 'run-id': 'unit', 'evidence-dir': evidenceDir, ...inputs }, {});

/** A stage whose behaviour the test chooses; the runner under test is real. */
const stage = (name: StageName, run: Stage['run'], extra: Partial<Stage> = {}): Stage => ({ name, run, ...extra });
const calls: string[] = [];
const passing = (name: StageName) => stage(name, async () => (calls.push(name), pass(`${name} ok`)));

describe('runStages', () => {
  it('runs every selected stage in order and records pass with durations', async () => {
    calls.length = 0;
    const { records } = await runStages([passing('preflight'), passing('workload'), passing('cleanup')], config());
    expect(calls).toEqual(['preflight', 'workload', 'cleanup']);
    expect(records.map((r) => [r.name, r.status, r.message])).toEqual([
      ['preflight', 'pass', 'preflight ok'],
      ['workload', 'pass', 'workload ok'],
      ['cleanup', 'pass', 'cleanup ok'],
    ]);
    for (const r of records) expect(r.durationMs).toBe(Date.parse(r.finishedAt) - Date.parse(r.startedAt));
  });

  it('skips the rest after a failure, still runs cleanup, and collects diagnostics', async () => {
    calls.length = 0;
    const failing = stage(
      'hpa',
      async (ctx) => {
        ctx.evidence({ title: 'HPA', command: 'kubectl get hpa', output: 'desired 1' });
        throw new StageFailure('desiredReplicas stayed at 1', 'check the metric');
      },
      {
        diagnose: async (ctx: StageContext, error: Error) => ctx.diagnostic({ title: 'why', output: error.message }),
      },
    );
    const { records } = await runStages([passing('workload'), failing, passing('provision'), passing('cleanup')], config());
    expect(records.map((r) => r.status)).toEqual(['pass', 'fail', 'skip', 'pass']);
    expect(records[1]!.message).toBe('desiredReplicas stayed at 1. Next: check the metric');
    expect(records[1]!.evidence).toEqual([{ title: 'HPA', command: 'kubectl get hpa', output: 'desired 1' }]);
    expect(records[1]!.diagnostics).toEqual([{ title: 'why', output: 'desiredReplicas stayed at 1. Next: check the metric' }]);
    expect(records[2]!.message).toBe('not run: stage hpa failed');
    expect(calls).toEqual(['workload', 'cleanup']);
  });

  it('records a stage skip and a not-selected stage', async () => {
    const { records } = await runStages(
      [stage('metric', async () => skip('scenario pending-pods has no metric')), passing('tools'), passing('cleanup')],
      config({ stages: 'metric' }),
    );
    expect(records.map((r) => [r.name, r.status, r.message])).toEqual([
      ['metric', 'skip', 'scenario pending-pods has no metric'],
      ['tools', 'skip', 'not selected by the stages input'],
      ['cleanup', 'pass', 'cleanup ok'],
    ]);
  });

  it('fails a stage at its timeout and aborts its signal', async () => {
    let seen: AbortSignal | undefined;
    const hanging = stage('provision', (ctx) => {
      seen = ctx.signal;
      return new Promise(() => undefined);
    });
    const { records } = await runStages([hanging, passing('cleanup')], config({ timeouts: 'provision=1s' }));
    expect(records[0]).toMatchObject({ status: 'fail', message: 'provision timed out after 1.0s' });
    expect(seen?.aborted).toBe(true);
    expect(records[1]!.status).toBe('pass');
  });

  it('on cancel, stops the current stage, skips the rest and still cleans up', async () => {
    const cancel = new AbortController();
    const waiting = stage('schedule', (ctx) => {
      queueMicrotask(() => cancel.abort(new Error('SIGTERM')));
      return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('watch aborted'))));
    });
    let cleanupSignal: AbortSignal | undefined;
    const cleanup = stage('cleanup', async (ctx) => ((cleanupSignal = ctx.signal), pass('cleaned')));
    const { records } = await runStages([waiting, passing('consolidation'), cleanup], config(), { signal: cancel.signal });
    expect(records.map((r) => [r.name, r.status, r.message])).toEqual([
      ['schedule', 'fail', 'schedule cancelled: watch aborted'],
      ['consolidation', 'skip', 'not run: stage schedule failed'],
      ['cleanup', 'pass', 'cleaned'],
    ]);
    expect(cleanupSignal?.aborted).toBe(false);
  });

  it('checkpoints the run state around every stage, for the post step', async () => {
    const seen: (number | undefined)[] = [];
    const starting = stage('karpenter-install', async (ctx) => {
      ctx.run.karpenterPid = 4242;
      ctx.checkpoint(); // as soon as the child exists, not only when the stage ends
      return pass('started');
    });
    await runStages([starting, passing('cleanup')], config(), { onCheckpoint: (run) => seen.push(run.karpenterPid) });
    expect(seen).toEqual([undefined, 4242, 4242, 4242, 4242]);
  });

  it('keeps the first time each timeline point was reached', async () => {
    const marking = stage('provision', async (ctx) => {
      ctx.mark({ event: 'node-ready', at: '2026-11-30T10:00:05Z', source: 'Node a' });
      ctx.mark({ event: 'node-ready', at: '2026-11-30T10:00:09Z', source: 'Node b' });
      return pass('marked');
    });
    const { run } = await runStages([marking, passing('cleanup')], config());
    expect(run.timeline).toEqual([{ event: 'node-ready', at: '2026-11-30T10:00:05Z', source: 'Node a' }]);
  });
});

describe('skipReasonFor', () => {
  const c = config({ scenario: 'pending-pods' });
  const metric = stage('metric', async () => pass(''), { skipReason: (cfg) => (cfg.scenario === 'pending-pods' ? 'no metric in pending-pods' : undefined) });
  it('asks the stage when nothing failed', () => expect(skipReasonFor(metric, c, [], false)).toBe('no metric in pending-pods'));
  it('skips after cancel but never cleanup', () => {
    expect(skipReasonFor(passing('hpa'), c, [], true)).toBe('not run: the run was cancelled');
    expect(skipReasonFor(passing('cleanup'), c, [], true)).toBeUndefined();
  });
});

describe('timeout messages', () => {
  it('carry what the stage last saw when its wait fails on the abort', async () => {
    const waiting = stage(
      'provision',
      (ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('2 of 4 NodeClaims Initialized')))),
    );
    const { records } = await runStages([waiting, passing('cleanup')], config({ timeouts: 'provision=1s' }));
    expect(records[0]!.message).toBe('provision timed out after 1.0s: 2 of 4 NodeClaims Initialized');
  });
});

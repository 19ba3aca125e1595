// The polling baseline: the chain's checks done the way CI shell scripts do them, `kubectl get`
// then `sleep` between polls, on the same bed with the same workload as the action. Setup
// (Karpenter, NodePool, metric) and teardown reuse the action's own stages in process, so only
// the checks differ. The sleeps here ARE the measured baseline; nothing else in the repo sleeps.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { NODEPOOL_LABEL } from '../../src/checks/capacity.js';
import { renderWorkload, WORKLOAD_NAME, WORKLOAD_SELECTOR } from '../../src/checks/workload.js';
import { configFrom } from '../../src/inputs.js';
import { runStages } from '../../src/runner.js';
import { ALL_STAGES } from '../../src/stages/index.js';
import { readWorkloadTemplates } from '../../src/stages/workload.js';
import type { StageName, StageRecord } from '../../src/types.js';
import { bin, type Bed } from '../../testbed/lib/bed.js';

const run = promisify(execFile);

export interface PollStep {
  check: string;
  /** ms after the workload was applied when the poll saw it. */
  seenAfterMs: number;
  polls: number;
}

export interface BaselineSample {
  ok: boolean;
  error?: string;
  intervalS: number;
  /** Workload applied to nodes back to baseline, as the script saw it. */
  checksWallMs?: number;
  steps: PollStep[];
  kubectlCalls: number;
  setupMs: number;
  teardownMs: number;
}

const SETUP: StageName[] = ['preflight', 'karpenter-build', 'karpenter-install', 'nodepool', 'metric'];

export async function pollingBaseline(
  bed: Bed,
  inputs: Record<string, string>,
  o: { intervalS: number; workDir: string; timeoutMs?: number },
): Promise<BaselineSample> {
  const kubectl = bin(bed, 'kubectl');
  const config = configFrom({ ...inputs, kubeconfig: bed.kubeconfig, 'evidence-dir': path.join(o.workDir, 'polling-evidence'), summary: 'false' });
  const pool = config.nodePool.name;
  const ns = `${config.namespacePrefix}-${config.runId}`;
  let kubectlCalls = 0;
  const k = async (...args: string[]): Promise<string> => {
    kubectlCalls++;
    return (await run(kubectl, ['--kubeconfig', bed.kubeconfig, ...args], { maxBuffer: 64 << 20 })).stdout.trim();
  };
  const lines = (s: string) => s.split('\n').filter(Boolean);
  const steps: PollStep[] = [];
  let t0 = 0;
  // until <check>; do sleep <interval>; done
  const pollUntil = async (check: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + (o.timeoutMs ?? 10 * 60_000);
    for (let polls = 1; ; polls++) {
      if (await ok().catch(() => false)) {
        steps.push({ check, seenAfterMs: Date.now() - t0, polls });
        console.log(`  polling: ${check} after ${((Date.now() - t0) / 1000).toFixed(1)} s (${polls} poll(s))`);
        return;
      }
      if (Date.now() > deadline) throw new Error(`polling: ${check} not seen within the deadline`);
      await sleep(o.intervalS * 1000);
    }
  };

  const setupStart = Date.now();
  const setup = await runStages(ALL_STAGES, { ...config, stages: SETUP });
  const setupMs = Date.now() - setupStart;
  const failed = (rs: StageRecord[]) => rs.find((r) => r.status === 'fail');
  let sample: BaselineSample = { ok: false, intervalS: o.intervalS, steps, kubectlCalls: 0, setupMs, teardownMs: 0 };
  try {
    const bad = failed(setup.records);
    if (bad) throw new Error(`setup stage ${bad.name} failed: ${bad.message}`);
    const baseline = lines(await k('get', 'nodes', '-l', `${NODEPOOL_LABEL}=${pool}`, '-o', 'name')).length;
    const file = path.join(o.workDir, 'polling-workload.yaml');
    fs.writeFileSync(
      file,
      renderWorkload(readWorkloadTemplates(), config, setup.run)
        .map((d) => stringify(d))
        .join('---\n'),
    );
    await k('apply', '-f', file);
    t0 = Date.now();

    let desired = config.maxReplicas;
    if (config.scenario === 'metric')
      await pollUntil('HPA desiredReplicas > minReplicas', async () => {
        desired = Number(await k('get', 'hpa', WORKLOAD_NAME, '-n', ns, '-o', 'jsonpath={.status.desiredReplicas}')) || 0;
        return desired > config.minReplicas;
      });
    const podsIn = (phase: string) => k('get', 'pods', '-n', ns, '-l', WORKLOAD_SELECTOR, `--field-selector=status.phase=${phase}`, '-o', 'name');
    // A 10 s poll can miss the Pending window altogether; a script that waited for it would hang, so Running counts too.
    await pollUntil(
      'pods Pending (or already Running)',
      async () => lines(await podsIn('Pending')).length > 0 || lines(await podsIn('Running')).length >= desired,
    );
    await pollUntil('new GPU nodes Ready', async () => {
      const ready = lines(
        await k(
          'get',
          'nodes',
          '-l',
          `${NODEPOOL_LABEL}=${pool}`,
          '-o',
          'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
        ),
      );
      return ready.filter((s) => s === 'True').length > baseline;
    });
    await pollUntil(`all desired pods Running`, async () => lines(await podsIn('Running')).length >= desired);
    await k('delete', 'hpa,deployment', WORKLOAD_NAME, '-n', ns, '--ignore-not-found', '--wait=false');
    await pollUntil('nodes back to baseline', async () => lines(await k('get', 'nodes', '-l', `${NODEPOOL_LABEL}=${pool}`, '-o', 'name')).length <= baseline);
    sample = { ...sample, ok: true, checksWallMs: Date.now() - t0 };
  } catch (e) {
    sample = { ...sample, error: (e as Error).message };
  } finally {
    const teardownStart = Date.now();
    const down = await runStages(ALL_STAGES, { ...config, stages: ['cleanup'] }, { run: setup.run });
    sample.teardownMs = Date.now() - teardownStart;
    const bad = failed(down.records);
    if (bad) sample = { ...sample, ok: false, error: `${sample.error ?? ''} cleanup failed: ${bad.message}`.trim() };
  }
  return { ...sample, kubectlCalls };
}

// Faults mid-run, through the bundle (main then post) against the bed, Karpenter in process
// mode: cancellation (SIGTERM, SIGTERM escalated to SIGKILL, SIGKILL), Karpenter killed, the
// kube-apiserver restarted (back in time, and not), prometheus-adapter stopped, a second
// process-mode run while one goes on. Each fault is triggered by an event of the run (a stage's
// group line, the run's first NodeClaim), and each run must leave the cluster as found, its
// Karpenter process gone, and no key material anywhere.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBed, startComponent, stopComponent, type Bed } from '../../testbed/lib/bed.js';
import { alive, bedKube } from '../support/cluster.js';
import { firstNodeClaim, lineOn, runWithFault, savedRun, stageOf, type FaultRun } from '../support/faults.js';
import { ROOT } from '../support/harness.js';
import { bedKeyMaterial, findSecrets, wideSnapshot, type WideSnapshot } from '../support/leaks.js';

let bed: Bed;
let before: WideSnapshot;
let secrets: string[];
const group = (stage: string) => new RegExp(`^::group::\\[\\d+/\\d+\\] ${stage}$`);
/** Short budgets: a fault must be reported at once, not at the end of a default timeout. */
const FAST = { scenario: 'pending-pods', 'max-replicas': '2', consolidation: 'skip' };

beforeAll(async () => {
  bed = loadBed();
  before = await wideSnapshot(bedKube(bed.kubeconfig));
  secrets = bedKeyMaterial(bed);
  expect(secrets.length).toBeGreaterThan(5);
});
afterAll(async () => {
  // A failed test must not leave the bed broken for the next file.
  for (const name of ['kube-apiserver', 'prometheus-adapter', 'kwok']) await startComponent(bed, name);
});

/** Nothing of the run is left (namespaces, NodeClaims, nodes, NodePools, CRDs), its Karpenter is gone, no key leaked. */
async function expectLeftAsFound(r: FaultRun): Promise<void> {
  expect(r.post.code, r.post.stdout.slice(-3000)).toBe(0);
  expect(await wideSnapshot(bedKube(bed.kubeconfig))).toEqual(before);
  expect(r.karpenterPids.length, 'main saved the Karpenter pid for post').toBe(1);
  expect(alive(r.karpenterPids[0])).toBe(false);
  expect(findSecrets(r, r.evidenceDir, secrets)).toEqual([]);
}

const cancelledAt = (r: FaultRun) => r.results!.stages.find((s) => s.status === 'fail')!;

describe('cancellation', () => {
  it('SIGTERM mid-provision: the stage stops, main cleans up, post finds nothing left', async () => {
    const kube = bedKube(bed.kubeconfig);
    const r = await runWithFault({ ...FAST, timeouts: 'provision=2m' }, bed.kubeconfig, async (step) => {
      await lineOn(step, group('provision'));
      await firstNodeClaim(kube, AbortSignal.timeout(120_000));
      step.child.kill('SIGTERM');
    });
    expect(r.main.code).toBe(1);
    expect(r.main.stdout).toContain('::warning::received SIGTERM: stopping the current stage, then cleaning up');
    const failed = cancelledAt(r);
    expect(['provision', 'schedule']).toContain(failed.name);
    expect(failed.message).toMatch(/cancel/i);
    expect(stageOf(r, 'cleanup').status).toBe('pass');
    expect(r.post.stdout).toContain('checking nothing is left');
    await expectLeftAsFound(r);
  });

  it('SIGTERM, then SIGKILL while main cleans up (the runner escalating): post removes the rest', async () => {
    const kube = bedKube(bed.kubeconfig);
    const r = await runWithFault({ ...FAST, timeouts: 'provision=2m' }, bed.kubeconfig, async (step) => {
      await lineOn(step, group('provision'));
      await firstNodeClaim(kube, AbortSignal.timeout(120_000));
      step.child.kill('SIGTERM');
      await lineOn(step, group('cleanup'));
      step.child.kill('SIGKILL');
    });
    expect(r.main.signal).toBe('SIGKILL');
    expect(r.post.stdout).toContain('main did not finish cleaning up');
    await expectLeftAsFound(r);
  });

  it('SIGKILL mid-provision: post cleans up from the saved state (namespace, NodeClaims, Karpenter process)', async () => {
    const kube = bedKube(bed.kubeconfig);
    const r = await runWithFault({ ...FAST, timeouts: 'provision=2m' }, bed.kubeconfig, async (step) => {
      await lineOn(step, group('provision'));
      await firstNodeClaim(kube, AbortSignal.timeout(120_000));
      step.child.kill('SIGKILL');
    });
    expect(r.main.signal).toBe('SIGKILL');
    // What post had to undo was there: the detached Karpenter outlived main.
    expect(r.saved.namespace).toMatch(/^gpu-conformance-/);
    expect(r.post.stdout).toContain(`main did not finish cleaning up run ${r.saved.runId}`);
    // Each of the three, in whatever order cleanup finished them (the namespace's delete is waited for last).
    const postCleanup = /cleanup: pass .*/.exec(r.post.stdout)?.[0] ?? '';
    for (const part of [/namespace gpu-conformance-\S+ deleted/, /NodeClaim\(s\) deleted/, /Karpenter process \d+ stopped/]) expect(postCleanup).toMatch(part);
    await expectLeftAsFound(r);
  });
});

describe('component faults', () => {
  it('Karpenter killed mid-run: the current stage fails at once with its log tail; nothing is left', async () => {
    let killed = 0;
    // Killed as the workload is about to be made: the waits that follow need it, and no NodeClaim
    // exists yet (one made before the kill would keep its finalizer: nobody left to remove it).
    const r = await runWithFault({ ...FAST, timeouts: 'pending=5m,provision=5m,schedule=5m' }, bed.kubeconfig, async (step, dirs) => {
      await lineOn(step, group('workload'));
      killed = savedRun(dirs).karpenterPid!;
      process.kill(killed, 'SIGKILL');
    });
    expect(r.karpenterPids).toEqual([killed]);
    expect(r.main.code).toBe(1);
    const failed = cancelledAt(r);
    expect(['workload', 'pending', 'provision']).toContain(failed.name);
    // Named as Karpenter's exit with its log tail, not as a stage timeout 5 minutes later.
    expect(failed.message).toMatch(new RegExp(`Karpenter \\(pid ${killed}\\) exited with SIGKILL while the run needed it; last lines of its log:`));
    expect(failed.message).not.toMatch(/timed out|stage timeout/);
    await expectLeftAsFound(r);
  });

  it('Karpenter killed after it launched a node: the stage fails at once; cleanup releases the orphaned KWOK NodeClaim', async () => {
    const kube = bedKube(bed.kubeconfig);
    let killed = 0;
    // The KWOK controller is stopped before the run: Karpenter still launches (its KWOK provider
    // makes the NodeClaim's Node), but no node turns Ready, so provision cannot pass before the
    // kill, however fast the run goes (killed at Registered with KWOK up, a fast run had passed
    // schedule by then, and once passed).
    await stopComponent(bed, 'kwok');
    const r = await runWithFault({ ...FAST, timeouts: 'provision=5m,schedule=5m' }, bed.kubeconfig, async (step, dirs) => {
      try {
        await lineOn(step, group('provision'));
        await firstNodeClaim(kube, AbortSignal.timeout(120_000), 'Launched');
        killed = savedRun(dirs).karpenterPid!;
        process.kill(killed, 'SIGKILL');
      } finally {
        await startComponent(bed, 'kwok');
      }
    });
    expect(r.main.code).toBe(1);
    const failed = cancelledAt(r);
    expect(failed.name).toBe('provision');
    expect(failed.message).toContain(`Karpenter (pid ${killed}) exited with SIGKILL while the run needed it`);
    expect(stageOf(r, 'cleanup').message).toContain("finalizers released: this run's Karpenter process was gone");
    await expectLeftAsFound(r);
  });

  it('kube-apiserver restarted mid-provision: the run passes (watches resume)', async () => {
    const kube = bedKube(bed.kubeconfig);
    const r = await runWithFault({ ...FAST, timeouts: 'provision=3m,schedule=3m' }, bed.kubeconfig, async (step) => {
      await lineOn(step, group('provision'));
      // Once its Node exists: Karpenter's KWOK provider creates the Node once, without retry, so a
      // restart during that call would strand the claim (a provider trait, not the action's).
      await firstNodeClaim(kube, AbortSignal.timeout(120_000), 'Registered');
      await stopComponent(bed, 'kube-apiserver');
      await startComponent(bed, 'kube-apiserver');
    });
    expect(r.main.code, r.main.stdout.slice(-4000)).toBe(0);
    expect(r.outputs.result).toBe('pass');
    expect(Number(r.outputs['pods-scheduled'])).toBe(2);
    await expectLeftAsFound(r);
  });

  it('kube-apiserver down past the provision timeout: provision fails naming what it waited for; post cleans up once it is back', async () => {
    // No offering is available, so Karpenter launches nothing: the NodeClaim a launch would make
    // could not be finalized once main's cleanup has stopped Karpenter.
    const types = JSON.parse(fs.readFileSync(path.join(ROOT, 'manifests/instance-types.json'), 'utf8')) as { offerings: { Available: boolean }[] }[];
    for (const t of types) for (const o of t.offerings) o.Available = false;
    const unavailable = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gac-types-')), 'instance-types.json');
    fs.writeFileSync(unavailable, JSON.stringify(types));
    const r = await runWithFault(
      { ...FAST, 'instance-types': unavailable, timeouts: 'provision=45s' },
      bed.kubeconfig,
      async (step) => {
        await lineOn(step, group('provision'));
        await stopComponent(bed, 'kube-apiserver');
      },
      { beforePost: () => startComponent(bed, 'kube-apiserver') },
    );
    expect(r.main.code).toBe(1);
    expect(r.outputs['failed-stage']).toBe('provision');
    expect(stageOf(r, 'provision').message).toMatch(/the API has not answered for \d+ s|the Kubernetes API did not answer \(connect ECONNREFUSED/);
    // Main could not clean up an unreachable cluster and says so; post, with the apiserver back, can.
    expect(r.main.stdout).toMatch(/::error::cleanup: fail in [\d.]+s — Expected everything this run created to be removed; left behind: namespace /);
    expect(r.post.stdout).toContain('main did not finish cleaning up');
    // results.json, which main could not upload, is finished by post: its cleanup record is post's.
    expect(stageOf(r, 'cleanup').status).toBe('pass');
    await expectLeftAsFound(r);
  });

  it('prometheus-adapter stopped mid-run: a clear failure in metric or hpa', async () => {
    const r = await runWithFault(
      { 'max-replicas': '2', consolidation: 'skip', timeouts: 'metric=30s,hpa=45s' },
      bed.kubeconfig,
      async (step) => {
        await lineOn(step, group('karpenter-install'));
        await stopComponent(bed, 'prometheus-adapter');
      },
      { beforePost: () => startComponent(bed, 'prometheus-adapter') },
    );
    expect(r.main.code).toBe(1);
    const failed = cancelledAt(r);
    expect(['metric', 'hpa']).toContain(failed.name);
    expect(failed.message).toMatch(/external|metric|APIService/i);
    expect(failed.message).not.toMatch(/timed out after/);
    await expectLeftAsFound(r);
  });
});

describe('a second Karpenter', () => {
  it('a process-mode run while another process-mode run goes on is refused in preflight, before it changes anything', async () => {
    let second: FaultRun | undefined;
    const first = await runWithFault({ ...FAST, 'run-id': 'own-a' }, bed.kubeconfig, async (step) => {
      // A has its NodePool and namespace (both saying process mode) and its Karpenter running.
      await lineOn(step, group('pending'));
      second = await runWithFault({ ...FAST, 'run-id': 'own-b' }, bed.kubeconfig, async () => undefined);
    });
    expect(first.main.code, first.main.stdout.slice(-3000)).toBe(0);
    expect(first.outputs.result).toBe('pass');
    await expectLeftAsFound(first);

    const b = second!;
    expect(b.main.code).toBe(1);
    expect(b.outputs['failed-stage']).toBe('preflight');
    expect(stageOf(b, 'preflight').message).toBe(
      'Expected no other run with a Karpenter of its own (process mode) on this cluster; going on: run own-a. ' +
        'Next: run one process-mode run at a time on a cluster (a concurrency group), or install one Karpenter and use karpenter-mode: existing with a NodePool per run',
    );
    expect(stageOf(b, 'cleanup').message).toContain('nothing to remove');
    expect(b.karpenterPids).toEqual([]);
    expect(b.post.code).toBe(0);
    expect(findSecrets(b, b.evidenceDir, secrets)).toEqual([]);
  });
});

// Runs that share a cluster, through the bundle against the bed (process mode): leftovers of an
// earlier crashed run are reported, never counted as this run's, and removed only with
// cleanup-stale; two runs at once with different run ids both pass without touching each
// other's objects. Every run is scanned for the bed's key material.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/inputs.js';
import { HEARTBEAT_STALE_MS, liveRuns, serverTime, type Lease } from '../../src/checks/liveness.js';
import { leasesIn, podsIn } from '../../src/kube/paths.js';
import { rawRequest } from '../../src/kube/raw.js';
import { probeUntil } from '../../src/stages/wait.js';
import { watchUntil } from '../../src/kube/watch.js';
import { runStages } from '../../src/runner.js';
import { cleanupStage } from '../../src/stages/cleanup.js';
import { karpenterBuildStage } from '../../src/stages/karpenter-build.js';
import { karpenterInstallStage } from '../../src/stages/karpenter-install.js';
import { nodepoolStage } from '../../src/stages/nodepool.js';
import { toolsStage } from '../../src/stages/tools.js';
import { RUN_LABEL_KEY } from '../../src/state.js';
import type { Config, RunState } from '../../src/types.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { bedKube, deleteNamespaces } from '../support/cluster.js';
import { lineOn, runWithFault, stageOf, TOOL_CACHE, type FaultRun } from '../support/faults.js';
import { bedKeyMaterial, findSecrets, wideSnapshot, type WideSnapshot } from '../support/leaks.js';

let bed: Bed;
let before: WideSnapshot;
let secrets: string[];
const group = (stage: string) => new RegExp(`^::group::\\[\\d+/\\d+\\] ${stage}$`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gac-runs-'));
/**
 * One Karpenter for every run of this file, as a shared cluster has: started (process mode) by
 * the action's own stages in this process, with a Ready GPU NodePool `gpu-base` for existing
 * mode to find. Two Karpenters on one cluster would both act on every NodePool.
 */
let shared: { config: Config; run: RunState };

beforeAll(async () => {
  bed = loadBed();
  before = await wideSnapshot(bedKube(bed.kubeconfig));
  secrets = bedKeyMaterial(bed);
  process.env.RUNNER_TOOL_CACHE = TOOL_CACHE;
  process.env.RUNNER_TEMP = tmp;
  if (!(process.env.PATH ?? '').includes('/usr/local/go/bin')) process.env.PATH = `${process.env.PATH}:/usr/local/go/bin`;
  const config = configFrom({ kubeconfig: bed.kubeconfig, 'run-id': 'shared-base', nodepool: poolFile('base'), 'evidence-dir': path.join(tmp, 'base') });
  const { records, run } = await runStages([toolsStage, karpenterBuildStage, karpenterInstallStage, nodepoolStage], config);
  expect(records.map((r) => `${r.name}:${r.status}:${r.message}`).join('\n')).not.toMatch(/:fail:/);
  shared = { config, run };
  // As a keep-installed run leaves it: Karpenter and its NodePool stay, the run's namespace (when
  // it made one) goes; else every run here would report it as a leftover of an earlier run.
  await deleteNamespaces(bedKube(bed.kubeconfig), [run.namespace]);
});
afterAll(async () => {
  if (shared) {
    const { records } = await runStages([cleanupStage], shared.config, { run: shared.run });
    expect(records[0]!.status, records[0]!.message).toBe('pass');
  }
  expect(await wideSnapshot(bedKube(bed.kubeconfig))).toEqual(before);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Inputs of a run on the shared Karpenter with a NodePool of its own. */
const onShared = (id: string, inputs: Record<string, string>) => ({ 'karpenter-mode': 'existing', 'run-id': id, nodepool: poolFile(id), ...inputs });

function expectNoLeak(r: FaultRun): void {
  expect(findSecrets(r, r.evidenceDir, secrets)).toEqual([]);
}

/** The run ran main to the end with a pass, and post found nothing left. */
function expectPass(r: FaultRun): void {
  expect(r.main.code, r.main.stdout.slice(-4000)).toBe(0);
  expect(r.outputs.result).toBe('pass');
  expect(r.post.code).toBe(0);
}

describe('leftovers of an earlier crashed run', () => {
  it("are reported and not counted, removed only with cleanup-stale; the crashed run's post removes the rest", async () => {
    const kube = bedKube(bed.kubeconfig);
    // X: main is SIGKILLed once all its pods Run (a crashed job step); its post step is held
    // back until the other runs are done.
    let releasePost!: () => void;
    let mainGone!: () => void;
    const postGate = new Promise<void>((go) => (releasePost = go));
    const crashed = new Promise<void>((done) => (mainGone = done));
    const xRun = runWithFault(
      onShared('x', { scenario: 'pending-pods', 'max-replicas': '2', timeouts: 'provision=2m,schedule=2m' }),
      bed.kubeconfig,
      async (step) => {
        // Frozen as soon as its workload exists, so it cannot get on to consolidation and cleanup
        // while the test waits (killing it once its pods ran raced its own next stages); the
        // shared Karpenter provisions for its pods meanwhile.
        await lineOn(step, group('pending'));
        step.child.kill('SIGSTOP');
        await allRunning(kube, 'gpu-conformance-x', 2);
        step.child.kill('SIGKILL');
      },
      { beforePost: () => (mainGone(), postGate) },
    );
    try {
      await Promise.race([
        crashed,
        xRun.then((r) => {
          throw new Error(`run X ended without crashing: ${r.main.stdout.slice(-2000)}`);
        }),
      ]);
      // X stops beating when it dies; until its last beat is older than the stale window another run
      // takes it for a run going on. Wait for that (read from the cluster, decided as preflight does).
      await xStopsBeating(kube);
      const leftover = await wideSnapshot(kube);
      expect(leftover.runNamespaces).toContain('gpu-conformance-x');
      expect(leftover.runLeases).toEqual(['default/gpu-conformance-x']);
      expect(leftover.nodeClaims.length).toBeGreaterThanOrEqual(1);

      // Y (a NodePool of its own: leftovers in a shared one would be its baseline, and Karpenter
      // may move them onto Y's nodes): reports them, passes counting its own nodes only, deletes
      // nothing of X's.
      const y = await runWithFault(
        onShared('y', { scenario: 'pending-pods', 'max-replicas': '2', 'cleanup-stale': 'false' }),
        bed.kubeconfig,
        async () => undefined,
      );
      expectPass(y);
      expect(y.main.stdout).toMatch(/::warning::Leftovers of earlier runs found \(namespace\/gpu-conformance-x.*\); set cleanup-stale: true to remove them/);
      expect(stageOf(y, 'preflight').message).toContain(`leftover(s) of earlier runs reported`);
      expect(stageOf(y, 'preflight').message).toContain('baseline 0 node(s) in NodePool gpu-y');
      expect(Number(y.outputs['pods-scheduled'])).toBe(2);
      // X's NodeClaims appear nowhere in what Y counted.
      const counted = JSON.stringify(y.results!.stages.filter((s) => ['provision', 'schedule', 'consolidation'].includes(s.name)));
      for (const claim of leftover.nodeClaims) expect(counted).not.toContain(claim);
      const between = await wideSnapshot(kube);
      expect(between.runNamespaces).toEqual(['gpu-conformance-x']);
      expect(between.runLeases).toEqual(['default/gpu-conformance-x']);
      expect(between.nodeClaims).toEqual(leftover.nodeClaims);
      expectNoLeak(y);

      // Z: cleanup-stale removes X's namespace and Lease (X's emptied nodes are then consolidated away).
      const z = await runWithFault(
        onShared('z', { scenario: 'pending-pods', 'max-replicas': '2', 'cleanup-stale': 'true' }),
        bed.kubeconfig,
        async () => undefined,
      );
      expectPass(z);
      expect(stageOf(z, 'preflight').message).toContain(`leftover(s) of earlier runs deleted`);
      expect(z.main.stdout).toMatch(/Deleted leftovers of earlier runs: namespace\/gpu-conformance-x, .*lease\/default\/gpu-conformance-x/);
      await watchUntil(kube, {
        path: '/api/v1/namespaces',
        fieldSelector: 'metadata.name=gpu-conformance-x',
        signal: AbortSignal.timeout(60_000),
        describe: "X's namespace gone",
        until: (items) => (items.size === 0 ? true : undefined),
      });
      const swept = await wideSnapshot(kube);
      expect(swept.runNamespaces).toEqual([]);
      expect(swept.runLeases).toEqual([]);
      expectNoLeak(z);
    } catch (e) {
      // X's post still runs: a failure here must not leave X's objects to the files after this one.
      releasePost();
      await xRun.catch(() => undefined);
      throw e;
    }

    // X's post (the runner ran it after all): removes the NodePool X applied (with whatever nodes
    // it still has).
    releasePost();
    const xr = await xRun;
    expect(xr.post.code, xr.post.stdout).toBe(0);
    const after = await wideSnapshot(kube);
    expect(after.runNamespaces).toEqual([]);
    expect(after.nodePools).toEqual(['gpu-base']);
    expect(after.nodeClaims).toEqual([]);
    expectNoLeak(xr);
  });
});

/** Resolves once run X's Lease was not renewed within the stale window, by the API server's clock (as preflight decides). */
async function xStopsBeating(kube: ReturnType<typeof bedKube>): Promise<void> {
  const signal = AbortSignal.timeout(HEARTBEAT_STALE_MS * 3);
  await probeUntil(
    { signal, info: () => undefined },
    async () => {
      const r = await rawRequest(kube, leasesIn('default'), { query: { labelSelector: `${RUN_LABEL_KEY}=x` }, signal });
      const leases = (r.body as { items?: Lease[] }).items ?? [];
      if (leases.length === 0) return { state: 'no Lease of run x found' };
      const live = liveRuns(leases, RUN_LABEL_KEY, serverTime(r.headers.date, Date.now())).has('x');
      return { result: live ? undefined : true, state: live ? 'run x still beating' : 'run x stopped' };
    },
    { expected: "run X's heartbeat stale", next: 'the crashed run must stop renewing its heartbeat' },
  );
}

/** Resolves once `n` pods of the namespace are Running. */
function allRunning(kube: ReturnType<typeof bedKube>, namespace: string, n: number): Promise<true> {
  return watchUntil<k8s.V1Pod, true>(kube, {
    path: podsIn(namespace),
    signal: AbortSignal.timeout(120_000),
    describe: `${n} pods of ${namespace} Running`,
    until: (items) => ([...items.values()].filter((p) => p.status?.phase === 'Running').length >= n ? true : undefined),
  });
}

/** A NodePool file of its own for a run: pool `gpu-<id>` with KWOKNodeClass `<id>`. */
function poolFile(id: string): string {
  const text = fs
    .readFileSync(path.join(import.meta.dirname, '../../manifests/nodepool.yaml'), 'utf8')
    .replace(/^ {2}name: gpu$/m, `  name: gpu-${id}`)
    .replace(/^ {8}name: default$/m, `        name: ${id}`)
    .replace(/^ {2}name: default$/m, `  name: ${id}`);
  const f = path.join(tmp, `nodepool-${id}.yaml`);
  fs.writeFileSync(f, text);
  return f;
}

describe('two runs at once', () => {
  it('with different run ids and NodePools both pass, each counting and removing only its own', async () => {
    const kube = bedKube(bed.kubeconfig);
    const start = await wideSnapshot(kube);
    // A (metric scenario, the slower) first; B starts once A has renewed its Lease, so B's
    // preflight surely meets A going on.
    let aGoesOn!: () => void;
    const aStarted = new Promise<void>((go) => (aGoesOn = go));
    const aRun = runWithFault(onShared('a', { scenario: 'metric', 'max-replicas': '2', 'metric-target': '10' }), bed.kubeconfig, async (step) => {
      await lineOn(step, group('pending'));
      await watchUntil<Lease, true>(kube, {
        path: leasesIn('default'),
        fieldSelector: 'metadata.name=gpu-conformance-a',
        signal: AbortSignal.timeout(60_000),
        describe: "A's Lease renewed",
        until: (items) => {
          const l = items.get('default/gpu-conformance-a');
          return l && l.spec?.renewTime !== l.spec?.acquireTime ? true : undefined;
        },
      });
      aGoesOn();
    });
    await Promise.race([
      aStarted,
      aRun.then((r) => {
        throw new Error(`run A ended before B started: ${r.main.stdout.slice(-2000)}`);
      }),
    ]);
    const b = await runWithFault(onShared('b', { scenario: 'pending-pods', 'max-replicas': '2' }), bed.kubeconfig, async () => undefined);
    const a = await aRun;
    expect(b.main.stdout).toContain('Runs going on in this cluster (not leftovers): a');
    for (const [r, id] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      expectPass(r);
      expect(Number(r.outputs['pods-scheduled'])).toBe(2);
      expect(Number(r.outputs['nodes-provisioned'])).toBeGreaterThanOrEqual(1);
      expect(stageOf(r, 'schedule').message).toContain(`NodePool gpu-${id}`);
      // Nothing of the other run was reported as a leftover, nor counted.
      expect(r.main.stdout).not.toContain('Leftovers of earlier runs');
      expect(stageOf(r, 'preflight').message).toContain('no leftovers of earlier runs');
      expectNoLeak(r);
    }
    const labels = await kube.core.listNamespace({ labelSelector: RUN_LABEL_KEY });
    expect(labels.items).toEqual([]);
    expect(await wideSnapshot(kube)).toEqual(start);
  });
});

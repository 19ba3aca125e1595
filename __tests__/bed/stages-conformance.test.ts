// Issue 18 on the bed: the conformance-grade checks. A NodePool tainted
// dedicated=gpu-training:NoSchedule passes (the workload tolerates it), with stability windows at
// both ends; a taint the pods were not given makes provision fail at once with Karpenter's reason;
// a pool node the pods do not tolerate fails pending naming the scheduler's reason; a baseline node
// deleted mid-run fails consolidation naming it; the stability window sees a node added and a flap.
import type * as k8s from '@kubernetes/client-node';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { configFrom } from '../../src/inputs.js';
import type { Kube } from '../../src/kube/client.js';
import { rawRequest } from '../../src/kube/raw.js';
import { watchUntil } from '../../src/kube/watch.js';
import { holdSteady } from '../../src/stages/steady.js';
import type { EvidenceItem } from '../../src/types.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { bedConfig, type Chain, evidenceOf, expectClean, kubeFor, runChain, stagesNamed, suffix, summary, useToolCache } from './stages-lib.js';

let bed: Bed;
let kube: Kube;

beforeAll(() => {
  bed = loadBed();
  kube = kubeFor(bed);
  useToolCache();
});

const POOL_LABEL = 'karpenter.sh/nodepool';
const TRAINING = { key: 'dedicated', value: 'gpu-training', effect: 'NoSchedule' };

/** Rewrites the config's nodepool file with extra template taints, and re-reads the config. */
function withTaints(inputs: Record<string, string>, taints: object[]) {
  const base = bedConfig(bed, inputs);
  const docs = parseAllDocuments(readFileSync(base.nodePoolFile, 'utf8')).map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const d of docs) if (d.kind === 'NodePool') d.spec.template.spec.taints = [...(d.spec.template.spec.taints ?? []), ...taints];
  writeFileSync(base.nodePoolFile, docs.map((d) => stringify(d)).join('---\n'));
  return configFrom({
    kubeconfig: bed.kubeconfig,
    'karpenter-mode': 'process',
    'kwok-install': 'skip',
    'run-id': base.runId,
    'namespace-prefix': 'gac-stages',
    nodepool: base.nodePoolFile,
    'evidence-dir': base.evidenceDir,
    summary: 'false',
    ...inputs,
  });
}

/**
 * A KWOK node in the pool that no NodeClaim made: a baseline node of the run. It needs a
 * providerID (not the KWOK provider's scheme, so Karpenter does not take it for an instance of
 * its own): Karpenter's cluster state never syncs, and so never provisions, while a node labelled
 * with a NodePool has none.
 */
async function baselineNode(pool: string, o: { gpus?: number; taints?: k8s.V1Taint[] } = {}): Promise<k8s.V1Node> {
  const name = `base-${suffix()}`;
  const res = { cpu: '32', memory: '256Gi', pods: '110', ...(o.gpus ? { 'nvidia.com/gpu': String(o.gpus) } : {}) };
  return kube.core.createNode({
    body: {
      metadata: {
        name,
        annotations: { 'kwok.x-k8s.io/node': 'fake' },
        labels: { 'kubernetes.io/hostname': name, type: 'kwok', [POOL_LABEL]: pool, 'karpenter.sh/registered': 'true', 'karpenter.sh/initialized': 'true' },
      },
      spec: { providerID: `bed://${name}`, taints: [{ key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' }, ...(o.taints ?? [])] },
      status: { capacity: res, allocatable: res },
    },
  });
}
/** A baseline node once KWOK has made it Ready (the window compares Ready too). */
async function readyNode(pool: string): Promise<k8s.V1Node> {
  const n = await baselineNode(pool);
  return watchUntil<k8s.V1Node, k8s.V1Node>(kube, {
    path: '/api/v1/nodes',
    fieldSelector: `metadata.name=${n.metadata!.name}`,
    signal: AbortSignal.timeout(30_000),
    describe: `node ${n.metadata!.name} Ready`,
    log: () => undefined,
    until: (items) => [...items.values()].find((x) => x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')),
  });
}
const deleteNode = (name: string) => kube.core.deleteNode({ name }).catch(() => undefined);

// No node of this file's pools outlives it: one labelled with a NodePool but without a
// providerID would stop every later provisioning on the shared bed.
afterAll(async () => {
  const left = (await kube.core.listNode({ labelSelector: POOL_LABEL })).items.filter((n) => n.metadata?.labels?.[POOL_LABEL]?.startsWith('steady-'));
  for (const n of left) await deleteNode(n.metadata!.name!);
  expect(left.map((n) => n.metadata!.name)).toEqual([]);
});

describe('the workload follows a tainted NodePool', () => {
  it('passes the chain with dedicated=gpu-training:NoSchedule, holding a 5 s window after scale-out and scale-in', async () => {
    const config = withTaints({ scenario: 'pending-pods', 'max-replicas': '2', 'min-replicas': '1', 'stability-window': '5s' }, [TRAINING]);
    expect(config.stabilityWindowMs).toBe(5000);
    const c = await runChain(config);
    for (const name of ['workload', 'pending', 'provision', 'schedule', 'consolidation'] as const) expect(c.record(name).status, summary(c)).toBe('pass');
    expect(evidenceOf(c.record('workload'), `Deployment gpu-workload`)).toContain("added for the NodePool's taints: dedicated=gpu-training:NoSchedule");
    expect(evidenceOf(c.record('workload'), `Workload follows NodePool ${config.nodePool.name}`)).toContain(
      'NodePool taints: nvidia.com/gpu=present:NoSchedule, dedicated=gpu-training:NoSchedule',
    );
    expect(evidenceOf(c.record('provision'), 'Stability window after scale-out')).toMatch(/^held 5\.0s .* without change: /);
    expect(evidenceOf(c.record('consolidation'), 'Stability window after scale-in')).toMatch(/^held 5\.0s .* without change: \(no nodes\)/);
    expect(c.record('provision').message).toContain('pool held 5 s without change');
    expect(c.record('consolidation').message).toContain('back to exactly its 0 baseline node(s), same UIDs');
    expect(c.run.baselineNodeIds).toEqual([]);
    await expectClean(kube, c);
  });
});

describe("provision fails at once with Karpenter's reason", () => {
  it('names the taint the pods do not tolerate (put on the NodePool after the workload was made to fit it)', async () => {
    const config = bedConfig(bed, { scenario: 'pending-pods', 'max-replicas': '3', 'min-replicas': '1', consolidation: 'skip', timeouts: 'provision=3m' });
    const up = await runChain(config, stagesNamed('preflight', 'tools', 'karpenter-build', 'karpenter-install', 'nodepool', 'workload'));
    expect(
      up.records.every((r) => r.status !== 'fail'),
      summary(up),
    ).toBe(true);
    // The cluster's NodePool gains a taint after the workload was made to fit it.
    const np = await rawRequest(kube, `/apis/karpenter.sh/v1/nodepools/${config.nodePool.name}`);
    const taints = [...((np.body as any).spec.template.spec.taints ?? []), TRAINING]; // eslint-disable-line @typescript-eslint/no-explicit-any
    const patched = await rawRequest(kube, `/apis/karpenter.sh/v1/nodepools/${config.nodePool.name}`, {
      method: 'PATCH',
      body: { text: JSON.stringify({ spec: { template: { spec: { taints } } } }), contentType: 'application/merge-patch+json' },
    });
    expect(patched.status).toBe(200);
    const c = await runChain(config, stagesNamed('pending', 'provision', 'schedule', 'consolidation', 'cleanup'), up.run);
    expect(c.record('pending').status, summary(c)).toBe('pass');
    const p = c.record('provision');
    expect(p.status, summary(c)).toBe('fail');
    expect(p.message).toMatch(/Karpenter cannot schedule the run's pods and made no NodeClaim of this run/);
    expect(p.message).toContain('did not tolerate taint');
    expect(p.message).toContain('dedicated=gpu-training:NoSchedule');
    expect(p.message).toContain('Next: the pods do not tolerate a taint of NodePool');
    expect(p.durationMs).toBeLessThan(60_000);
    await expectClean(kube, c);
  });
});

describe('baseline nodes', () => {
  it('pending fails naming what the scheduler said when the pool has a node the pods do not tolerate', async () => {
    const config = bedConfig(bed, { scenario: 'pending-pods', 'max-replicas': '2', 'min-replicas': '1', consolidation: 'skip' });
    const node = await baselineNode(config.nodePool.name, { gpus: 8, taints: [{ key: 'example.com/maintenance', value: 'true', effect: 'NoSchedule' }] });
    try {
      const c = await runChain(config);
      expect(c.run.baselineNodeIds).toEqual([{ name: node.metadata!.name, uid: node.metadata!.uid }]);
      const p = c.record('pending');
      expect(p.status, summary(c)).toBe('fail');
      expect(p.message).toMatch(
        /^Expected a workload pod Unschedulable for lack of nvidia\.com\/gpu \(the trigger of a GPU scale-up\); the scheduler ruled the pods out for other reasons:\n/,
      );
      expect(p.message).toContain('node(s) had untolerated taint');
      expect(p.message).toContain(`node ${node.metadata!.name} of the pool has taint(s) the pods do not tolerate: example.com/maintenance=true:NoSchedule`);
      expect(c.record('provision').status).toBe('skip');
      await expectClean(kube, c);
    } finally {
      await deleteNode(node.metadata!.name!);
    }
  });

  it('a baseline node deleted mid-run fails consolidation, naming it', async () => {
    const config = bedConfig(bed, { scenario: 'pending-pods', 'max-replicas': '2', 'min-replicas': '1' });
    const node = await baselineNode(config.nodePool.name); // no GPUs: the pods need new nodes
    const name = node.metadata!.name!;
    let run: Chain['run'] | undefined;
    let cleaned = false;
    try {
      const up = await runChain(
        config,
        stagesNamed('preflight', 'tools', 'karpenter-build', 'karpenter-install', 'nodepool', 'workload', 'pending', 'provision', 'schedule'),
      );
      run = up.run;
      for (const s of ['pending', 'provision', 'schedule'] as const) expect(up.record(s).status, summary(up)).toBe('pass');
      expect(up.record('pending').message).toContain('lacked nvidia.com/gpu');
      expect(up.record('provision').message).toContain('1 baseline node(s) intact');
      await deleteNode(name);
      const c = await runChain(config, stagesNamed('consolidation', 'cleanup'), up.run);
      cleaned = true;
      const cons = c.record('consolidation');
      expect(cons.status, summary(c)).toBe('fail');
      expect(cons.message).toContain(`baseline node ${name} (uid ${node.metadata!.uid}) removed`);
      expect(cons.message).toContain('karpenter.sh/do-not-disrupt');
      await expectClean(kube, c);
    } finally {
      // A failed assertion before consolidation must not leave Karpenter and its CRDs to the next test.
      if (run && !cleaned) await runChain(config, stagesNamed('cleanup'), run);
      await deleteNode(name);
    }
  });
});

describe('baseline nodes during the scale-out', () => {
  it('a baseline node deleted before the pods run fails schedule, naming it', async () => {
    const config = bedConfig(bed, { scenario: 'pending-pods', 'max-replicas': '2', 'min-replicas': '1', consolidation: 'skip' });
    const node = await baselineNode(config.nodePool.name);
    const name = node.metadata!.name!;
    let run: Chain['run'] | undefined;
    let cleaned = false;
    try {
      const up = await runChain(
        config,
        stagesNamed('preflight', 'tools', 'karpenter-build', 'karpenter-install', 'nodepool', 'workload', 'pending', 'provision'),
      );
      run = up.run;
      expect(up.record('provision').status, summary(up)).toBe('pass');
      await deleteNode(name);
      const c = await runChain(config, stagesNamed('schedule', 'cleanup'), up.run);
      cleaned = true;
      const s = c.record('schedule');
      expect(s.status, summary(c)).toBe('fail');
      expect(s.message).toContain(
        `Expected NodePool ${config.nodePool.name}'s baseline nodes to survive the scale-out; ${name} (uid ${node.metadata!.uid}) removed`,
      );
      await expectClean(kube, c);
    } finally {
      if (run && !cleaned) await runChain(config, stagesNamed('cleanup'), run);
      await deleteNode(name);
    }
  });
});

describe('stability window', () => {
  const ctxFor = (evidence: EvidenceItem[]) => ({
    kube: () => kube,
    signal: new AbortController().signal,
    info: () => undefined,
    evidence: (e: EvidenceItem) => evidence.push(e),
  });

  it('holds a steady pool for the window, and records it', async () => {
    const pool = `steady-${suffix()}`;
    const node = await readyNode(pool);
    try {
      const evidence: EvidenceItem[] = [];
      const started = Date.now();
      const r = await holdSteady(ctxFor(evidence), { pool, windowMs: 3000, after: 'after scale-out', expectUids: new Set([node.metadata!.uid!]) });
      expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
      expect(r?.state).toBe(node.metadata!.name);
      expect(evidence[0]!.output).toMatch(/^held 3\.0s .* without change/);
    } finally {
      await deleteNode(node.metadata!.name!);
    }
  });

  it('fails on a node added during the window, and on a flap (removed and added back), naming the change', async () => {
    const pool = `steady-${suffix()}`;
    const node = await readyNode(pool);
    const extra: string[] = [];
    // Changes made once the window is under way; each is awaited before cleanup, so none lands
    // after it (a node with a NodePool label and no providerID stops all later provisioning).
    let adding: Promise<unknown> | undefined;
    let flapping: Promise<unknown> | undefined;
    try {
      const added = holdSteady(ctxFor([]), { pool, windowMs: 20_000, after: 'after scale-in' });
      setTimeout(() => (adding = baselineNode(pool).then((n) => extra.push(n.metadata!.name!))), 1500);
      await expect(added).rejects.toThrow(
        /^Expected NodePool steady-\w+ steady for 20\.0s after scale-in; it changed after \d+\.\d s: node base-\w+ \(uid [-\w]+\) added/,
      );
      await adding;
      for (const n of extra.splice(0)) await deleteNode(n);

      const flap = holdSteady(ctxFor([]), { pool, windowMs: 20_000, after: 'after scale-out' });
      const name = node.metadata!.name!;
      setTimeout(() => {
        flapping = (async () => {
          await kube.core.deleteNode({ name });
          await kube.core.createNode({ body: { metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { [POOL_LABEL]: pool } } } });
        })();
      }, 1500);
      await expect(flap).rejects.toThrow(new RegExp(`it changed after .*: node ${name} \\(uid ${node.metadata!.uid}\\) removed`));
    } finally {
      await adding?.catch(() => undefined);
      await flapping?.catch(() => undefined);
      await deleteNode(node.metadata!.name!);
      for (const n of extra) await deleteNode(n);
    }
  });

  it('fails at once when the pool is not what the verdict saw', async () => {
    const pool = `steady-${suffix()}`;
    await expect(holdSteady(ctxFor([]), { pool, windowMs: 20_000, after: 'after scale-in', expectUids: new Set(['gone-uid']) })).rejects.toThrow(
      /at its start the pool was not what was reached: \(no nodes\) \(1 node\(s\) gone: uid gone-uid\)/,
    );
  });
});

// Issue 18 item 5 on the bed: the n-plus-one scenario (the Kubernetes AI conformance sequence
// N -> N+1 -> N) in process mode from an empty pool: the run makes N baseline nodes with its fill
// pods, pins them (karpenter.sh/do-not-disrupt), holds the window, adds one trigger pod, sees
// N+1 with the baseline intact, deletes the trigger and sees exactly N again. It leaves no
// annotation on any node and no NodeClaim. Also: cleanup from the state post gets (a cancel after
// the baseline was pinned) removes the annotations the run put, and nothing else.
import type * as k8s from '@kubernetes/client-node';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { DO_NOT_DISRUPT, PINNED_BY_LABEL } from '../../src/checks/nplusone.js';
import type { Kube } from '../../src/kube/client.js';
import { getJson } from '../../src/kube/raw.js';
import { savedRunOf } from '../../src/state.js';
import type { RunState, StageName } from '../../src/types.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { bedConfig, type Chain, evidenceOf, expectClean, kubeFor, runChain, stagesNamed, summary, useToolCache } from './stages-lib.js';

let bed: Bed;
let kube: Kube;

beforeAll(() => {
  bed = loadBed();
  kube = kubeFor(bed);
  useToolCache();
});

const PROVING: StageName[] = ['workload', 'pending', 'provision', 'schedule', 'consolidation'];

/** Nodes of the cluster carrying the do-not-disrupt annotation or a run's pin label (none may be left by a run). */
const pinnedNodes = async (): Promise<string[]> =>
  (await kube.core.listNode()).items
    .filter((n) => n.metadata?.annotations?.[DO_NOT_DISRUPT] !== undefined || n.metadata?.labels?.[PINNED_BY_LABEL] !== undefined)
    .map((n) => n.metadata!.name!);

/** The figures for docs/benchmarks.md: wall time per stage and the windows held. */
function figures(label: string, c: Chain): void {
  const windows = c.records.flatMap((r) => r.evidence.filter((e) => e.title.startsWith('Stability window')).map((e) => `  ${r.name}: ${e.title}: ${e.output}`));
  const total = c.records.reduce((s, r) => s + r.durationMs, 0);
  console.log(
    [
      `[figures] n-plus-one ${label}: ${(total / 1000).toFixed(1)} s in all`,
      ...c.records.map((r) => `  ${r.name.padEnd(18)} ${r.status.padEnd(4)} ${(r.durationMs / 1000).toFixed(1).padStart(6)} s  ${r.message}`),
      'windows:',
      ...windows,
    ].join('\n'),
  );
}

async function sequence(n: number, window: string): Promise<Chain> {
  const config = bedConfig(bed, { scenario: 'n-plus-one', 'baseline-nodes': String(n), ...(window ? { 'stability-window': window } : {}) });
  expect(config.baselineNodes).toBe(n);
  const c = await runChain(config);
  figures(`N=${n} window ${window || 'default'}`, c);
  for (const s of PROVING) expect(c.record(s).status, summary(c)).toBe('pass');
  for (const s of ['metric', 'hpa'] as const)
    expect(c.record(s).message).toBe(`scenario n-plus-one ${s === 'metric' ? 'does not use a metric' : 'has no HPA'}`);
  const w = c.record('workload');
  expect(w.message).toMatch(new RegExp(`^baseline ${n} node\\(s\\) pinned and filled \\(`));
  expect(w.message).toContain(`for N+1 = ${n + 1}`);
  expect(evidenceOf(w, `Baseline N = ${n}`)).toContain(`${DO_NOT_DISRUPT}=true, removed at cleanup`);
  expect(evidenceOf(w, 'GPUs per node of the NodePool')).toContain('p5.48xlarge (8 GPUs)');
  expect(evidenceOf(w, 'Stability window on the baseline')).toMatch(/^held .* without change: /);
  expect(c.run.baselineNodeIds).toHaveLength(n);
  expect(c.run.baselineNodeClaims).toHaveLength(n);
  expect(c.record('pending').message).toMatch(/Unschedulable for lack of GPUs|FailedScheduling for gpu-workload-/);
  expect(c.record('provision').message).toMatch(
    new RegExp(`^N\\+1 = ${n + 1} node\\(s\\): 1 NodeClaim\\(s\\) of the trigger Initialized, 1 new node\\(s\\) Ready`),
  );
  expect(c.record('provision').message).toContain(`${n} baseline node(s) intact`);
  expect(c.record('schedule').message).toMatch(new RegExp(`^trigger Running on new node .*, not a baseline node; N\\+1 = ${n + 1} node\\(s\\)`));
  expect(c.record('consolidation').message).toContain(`back to exactly N = ${n} node(s), the baseline's same UIDs`);
  // The baseline's claims were left out of the scale-out: provision counted the trigger's only.
  expect(c.run.outputs.nodesProvisioned).toBe(1);
  expect(c.run.pinnedNodes).toBeUndefined();
  expect(c.record('cleanup').message).toContain(`${DO_NOT_DISRUPT} removed from ${n} node(s) this run pinned`);
  await expectClean(kube, c);
  expect(await pinnedNodes()).toEqual([]);
  return c;
}

describe('scenario n-plus-one', () => {
  it('passes N=1 -> 2 -> 1 with the default 30 s windows, and leaves no annotation and no NodeClaim', async () => {
    await sequence(1, '');
  });

  it('passes N=2 -> 3 -> 2 with 5 s windows, and leaves no annotation and no NodeClaim', async () => {
    await sequence(2, '5s');
  });

  it('a pool of 8-GPU nodes is reported at the workload stage, and pending fails naming the baseline node the trigger landed on', async () => {
    const base = bedConfig(bed, { scenario: 'n-plus-one', 'stability-window': '0' });
    const docs = parseAllDocuments(readFileSync(base.nodePoolFile, 'utf8')).map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const d of docs)
      if (d.kind === 'NodePool') d.spec.template.spec.requirements.push({ key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['p5.48xlarge'] });
    writeFileSync(base.nodePoolFile, docs.map((d) => stringify(d)).join('---\n'));
    const config = { ...base, nodePool: { ...base.nodePool, manifests: docs } };
    const c = await runChain(config);
    expect(c.record('workload').status, summary(c)).toBe('pass');
    expect(c.record('workload').message).toContain('warning: NodePool');
    expect(evidenceOf(c.record('workload'), 'GPUs per node of the NodePool')).toBe(
      'p5.48xlarge (8 GPUs): more than one GPU per node; the conformance draft requires one GPU per node',
    );
    const p = c.record('pending');
    expect(p.status, summary(c)).toBe('fail');
    expect(p.message).toMatch(
      /^Expected the trigger Unschedulable for lack of nvidia\.com\/gpu on the full baseline \(N = 1\); the trigger gpu-workload landed on a baseline node instead of a new one: gpu-workload-\S+ on baseline node \S+ \(p5\.48xlarge, 8 GPU\(s\)\)/,
    );
    expect(p.message).toContain('The NodePool allows p5.48xlarge (8 GPUs): the conformance draft requires one GPU per node');
    expect(c.record('provision').status).toBe('skip');
    await expectClean(kube, c);
    expect(await pinnedNodes()).toEqual([]);
  });

  it('cleanup from the state post gets removes the annotations the run put, and only those', async () => {
    const config = bedConfig(bed, { scenario: 'n-plus-one', 'baseline-nodes': '2', 'stability-window': '0' });
    const up = await runChain(config, stagesNamed('preflight', 'tools', 'karpenter-build', 'karpenter-install', 'nodepool', 'workload'));
    let cleaned = false;
    try {
      expect(up.record('workload').status, summary(up)).toBe('pass');
      const pinned = up.run.pinnedNodes ?? [];
      expect(pinned).toHaveLength(2);
      expect((await pinnedNodes()).sort()).toEqual([...pinned].sort());
      // Someone else's pin on one of them after the run's would be the run's to remove only if the run put it; the run put both here.
      const nodes = (await kube.core.listNode({ labelSelector: `karpenter.sh/nodepool=${config.nodePool.name}` })).items as k8s.V1Node[];
      expect(nodes.map((n) => n.metadata?.annotations?.[DO_NOT_DISRUPT])).toEqual(['true', 'true']);
      // As post restores it: only the saved part of the run state.
      const saved = savedRunOf(up.run);
      const run: RunState = {
        ...saved,
        helmReleases: [...saved.helmReleases],
        appliedClusterObjects: [...saved.appliedClusterObjects],
        versions: {},
        cache: [],
        timeline: [],
        outputs: {},
      };
      expect(run.baselineNodeClaims).toBeUndefined();
      const c = await runChain(config, stagesNamed('cleanup'), run);
      cleaned = true;
      expect(c.record('cleanup').message, summary(c)).toContain(`${DO_NOT_DISRUPT} removed from 2 node(s) this run pinned`);
      await expectClean(kube, { ...c, records: [...up.records, ...c.records] });
      expect(await pinnedNodes()).toEqual([]);
      const claims = await getJson<{ items: k8s.KubernetesObject[] }>(kube, '/apis/karpenter.sh/v1/nodeclaims').catch(() => ({ items: [] }));
      expect(claims.items.filter((x) => x.metadata?.labels?.['karpenter.sh/nodepool'] === config.nodePool.name)).toEqual([]);
    } finally {
      if (!cleaned) await runChain(config, stagesNamed('cleanup'), up.run);
    }
  });
});

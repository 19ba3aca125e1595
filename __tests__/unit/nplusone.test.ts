// Issue 18 item 5: the n-plus-one scenario's decisions. The fill and trigger manifests, which
// nodes form the baseline, the baseline's NodeClaims left out of the run's identity, what a pool
// of multi-GPU instance types is reported as, the state post gets, and the permissions it needs.
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isRunNodeClaim } from '../../src/checks/capacity.js';
import {
  baselineClaims,
  baselineFromFill,
  DO_NOT_DISRUPT,
  FILL_NAME,
  fillPlacement,
  multiGpuTypes,
  multiGpuWarning,
  nPlusOneObjects,
  triggerOnBaseline,
} from '../../src/checks/nplusone.js';
import { requiredPermissions } from '../../src/checks/permissions.js';
import { initialReplicas, WORKLOAD_NAME } from '../../src/checks/workload.js';
import { readConfig } from '../../src/inputs.js';
import { createdNothing } from '../../src/stages/cleanup.js';
import { newRunState, savedRunOf, STATE_VALUE_BUDGET } from '../../src/state.js';
import type { Config, InstanceTypeSpec } from '../../src/types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered manifests are checked field by field
type Any = any;

const root = path.resolve(import.meta.dirname, '../..');
process.env.GAC_ACTION_ROOT = root;
const env = { RUNNER_TEMP: fs.mkdtempSync(path.join(os.tmpdir(), 'nplusone-')) };
const config = (inputs: Record<string, string> = {}): Config => {
  const r = readConfig((n) => ({ scenario: 'n-plus-one', 'run-id': 'r1', ...inputs })[n] ?? '', env);
  if (!r.config) throw new Error(r.errors.join('\n'));
  return r.config;
};
const templates = {
  deployment: parse(readFileSync(path.join(root, 'manifests/workload/deployment.yaml'), 'utf8')),
  hpa: parse(readFileSync(path.join(root, 'manifests/workload/hpa.yaml'), 'utf8')),
};
const types = JSON.parse(readFileSync(path.join(root, 'manifests/instance-types.json'), 'utf8')) as InstanceTypeSpec[];

const pod = (name: string, node?: string, phase = 'Running', deleting = false): k8s.V1Pod => ({
  metadata: { name, ...(deleting ? { deletionTimestamp: new Date() } : {}) },
  spec: { containers: [], ...(node ? { nodeName: node } : {}) },
  status: { phase },
});
const node = (name: string, o: { pool?: string; ready?: boolean; type?: string; gpus?: number; deleting?: boolean } = {}): k8s.V1Node => ({
  metadata: {
    name,
    uid: `uid-${name}`,
    labels: { 'karpenter.sh/nodepool': o.pool ?? 'gpu', 'node.kubernetes.io/instance-type': o.type ?? 'g5.xlarge' },
    ...(o.deleting ? { deletionTimestamp: new Date() } : {}),
  },
  status: {
    allocatable: { 'nvidia.com/gpu': String(o.gpus ?? 1) },
    conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
  },
});

describe('the n-plus-one manifests', () => {
  const c = config({ 'baseline-nodes': '3', 'gpus-per-pod': '2' });
  const run = newRunState(c);
  const { namespace, fill, trigger } = nPlusOneObjects(templates, c, run) as { namespace: Any; fill: Any; trigger: Any };

  it('fills N nodes: N replicas of the trigger pod, one per node by required anti-affinity on the hostname', () => {
    expect(namespace.kind).toBe('Namespace');
    expect(fill.metadata.name).toBe(FILL_NAME);
    expect(FILL_NAME.startsWith(`${WORKLOAD_NAME}-`)).toBe(false);
    expect(fill.spec.replicas).toBe(3);
    expect(fill.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': FILL_NAME });
    expect(fill.spec.template.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': FILL_NAME, [run.runLabel.key]: 'r1' });
    expect(fill.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      { labelSelector: { matchLabels: { 'app.kubernetes.io/name': FILL_NAME, [run.runLabel.key]: 'r1' } }, topologyKey: 'kubernetes.io/hostname' },
    ]);
    // The same GPUs, node selection and tolerations as the trigger.
    expect(fill.spec.template.spec.containers[0].resources).toEqual(trigger.spec.template.spec.containers[0].resources);
    expect(fill.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu']).toBe('2');
    expect(fill.spec.template.spec.nodeSelector).toEqual(trigger.spec.template.spec.nodeSelector);
    expect(fill.spec.template.spec.tolerations).toEqual(trigger.spec.template.spec.tolerations);
  });
  it('the trigger is the workload Deployment with one replica and no anti-affinity; no HPA', () => {
    expect(trigger.metadata.name).toBe(WORKLOAD_NAME);
    expect(trigger.spec.replicas).toBe(1);
    expect(trigger.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': WORKLOAD_NAME });
    expect(trigger.spec.template.spec.affinity).toBeUndefined();
    expect(initialReplicas(c)).toBe(1);
    // Pure: the templates are not changed.
    expect(templates.deployment.spec.template.spec.affinity).toBeUndefined();
  });
});

describe('which nodes form the baseline', () => {
  it('N fill pods Running on N distinct nodes; pending and deleting pods do not count', () => {
    expect(fillPlacement([pod('a', 'n1'), pod('b', 'n2')], 2)).toMatchObject({ ok: true, nodes: ['n1', 'n2'] });
    const partial = fillPlacement([pod('a', 'n1'), pod('b', undefined, 'Pending'), pod('c', 'n2', 'Running', true)], 2);
    expect(partial).toMatchObject({ ok: false, nodes: ['n1'] });
    expect(partial.detail).toBe('1/2 fill pod(s) Running on 1 node(s) (n1), 1 not yet');
    expect(fillPlacement([], 1).ok).toBe(false);
  });
  it('the fill nodes once Ready in the pool, after the nodes found before the run, each once', () => {
    const found = [{ name: 'old', uid: 'uid-old' }];
    const ok = baselineFromFill(['n1', 'old'], [node('n1'), node('old')], 'gpu', found);
    expect(ok.ok).toBe(true);
    expect(ok.ids).toEqual([
      { name: 'old', uid: 'uid-old' },
      { name: 'n1', uid: 'uid-n1' },
    ]);
    expect(ok.detail).toContain('1 node(s) of the pool found before the run stay in it');
    const notYet = baselineFromFill(
      ['n1', 'n2', 'n3', 'n4'],
      [node('n1', { ready: false }), node('n2', { pool: 'other' }), node('n3', { deleting: true })],
      'gpu',
    );
    expect(notYet.ok).toBe(false);
    expect(notYet.detail).toBe('0/4 fill node(s) Ready in NodePool gpu (n1 not Ready; n2 is not a node of NodePool gpu; n3 being deleted; n4 not found)');
  });
});

describe("the baseline's NodeClaims are not the scale-out's", () => {
  it('each fill node the run made is matched to its claim by provider ID, else nodeName; nodes found before the run need none', () => {
    const made = { ...node('n1'), spec: { providerID: 'kwok://n1' } };
    const other = node('n2');
    const old = node('old');
    const claims = [
      { metadata: { name: 'gpu-a' }, status: { providerID: 'kwok://n1' } },
      { metadata: { name: 'gpu-b' }, status: { nodeName: 'n2' } },
    ];
    expect(baselineClaims(claims, [made, other, old], [{ name: 'old', uid: 'uid-old' }])).toEqual({ ok: true, names: ['gpu-a', 'gpu-b'], missing: [] });
    // Karpenter has not recorded n2 on its claim yet: not done, so the claim is not left to count as the scale-out's.
    expect(baselineClaims(claims.slice(0, 1), [made, other], [])).toEqual({ ok: false, names: ['gpu-a'], missing: ['n2'] });
  });

  const claim = (name: string, created: string, run?: string): k8s.KubernetesObject => ({
    metadata: { name, creationTimestamp: new Date(created), labels: { 'karpenter.sh/nodepool': 'gpu', ...(run ? { 'gac/run': run } : {}) } },
  });
  const id = { pool: 'gpu', runLabel: { key: 'gac/run', value: 'r1' }, since: '2026-01-01T00:00:00.000Z' };
  it("excluded by name, whether told by the run label or by time; without the exclusion (cleanup) they are the run's", () => {
    const base = claim('gpu-a', '2026-01-01T00:00:05Z', 'r1');
    const baseByTime = claim('gpu-b', '2026-01-01T00:00:05Z');
    const trigger = claim('gpu-c', '2026-01-01T00:01:00Z', 'r1');
    for (const c of [base, baseByTime, trigger]) expect(isRunNodeClaim(c, id)).toBe(true);
    const scaleOut = { ...id, exclude: ['gpu-a', 'gpu-b'] };
    expect([base, baseByTime, trigger].filter((c) => isRunNodeClaim(c, scaleOut)).map((c) => c.metadata!.name)).toEqual(['gpu-c']);
  });
});

describe('a pool of more than one GPU per node', () => {
  const pool = (requirements: object[]) => [{ kind: 'NodePool', spec: { template: { spec: { requirements } } } }];
  it('names the shipped instance types with more than one GPU, as the NodePool allows them', () => {
    const all = multiGpuTypes(types, pool([]));
    expect(all.length).toBeGreaterThan(0);
    expect(all.every((t) => t.gpus > 1)).toBe(true);
    expect(all).toContainEqual({ name: 'p5.48xlarge', gpus: 8 });
    expect(multiGpuWarning('gpu', all)).toMatch(
      /^NodePool gpu allows instance type\(s\) with more than one GPU per node: .*p5\.48xlarge \(8 GPUs\).*the conformance draft requires one GPU per node/,
    );
    // Restricted to the 1-GPU type: nothing to report.
    const one = pool([{ key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['g5.xlarge'] }]);
    expect(multiGpuTypes(types, one)).toEqual([]);
    expect(multiGpuWarning('gpu', [])).toBeUndefined();
  });
  it('a trigger on a baseline node is named, with its type and GPUs; one on a new node is not', () => {
    const baseline = [{ name: 'b1', uid: 'uid-b1' }];
    const nodes = [node('b1', { type: 'p5.48xlarge', gpus: 8 }), node('new')];
    const on = triggerOnBaseline([pod(`${WORKLOAD_NAME}-x`, 'b1')], baseline, nodes, [{ name: 'p5.48xlarge', gpus: 8 }]);
    expect(on).toBe(
      'the trigger gpu-workload landed on a baseline node instead of a new one: gpu-workload-x on baseline node b1 (p5.48xlarge, 8 GPU(s)); the baseline nodes had GPUs to spare, so N+1 was never needed. The NodePool allows p5.48xlarge (8 GPUs): the conformance draft requires one GPU per node',
    );
    expect(triggerOnBaseline([pod(`${WORKLOAD_NAME}-x`, 'new')], baseline, nodes, [])).toBeUndefined();
    expect(triggerOnBaseline([pod(`${WORKLOAD_NAME}-x`)], baseline, nodes, [])).toBeUndefined();
  });
});

describe('what cleanup and post know', () => {
  it('the nodes the run pinned are saved for post (and only those), within the state budget at N = 32', () => {
    const run = newRunState(config());
    run.pinnedNodes = Array.from({ length: 32 }, (_, i) => `gpu-${'x'.repeat(40)}-${i}`);
    run.baselineNodeClaims = ['gpu-a'];
    run.baselineNodeIds = [{ name: 'n', uid: 'u' }];
    const saved = savedRunOf(run);
    expect(saved.pinnedNodes).toEqual(run.pinnedNodes);
    expect(saved).not.toHaveProperty('baselineNodeClaims');
    expect(Buffer.byteLength(`STATE_run=${JSON.stringify(saved)}`)).toBeLessThan(STATE_VALUE_BUDGET);
    expect(createdNothing({ ...newRunState(config()), pinnedNodes: ['n1'] })).toBe(false);
  });
  it('preflight asks for patch on nodes (the do-not-disrupt annotation) in workload and cleanup, only in n-plus-one', () => {
    const patch = (c: Config) =>
      requiredPermissions(c, 'ns', [])
        .filter((p) => p.resource === 'nodes' && p.verb === 'patch')
        .map((p) => p.stage);
    expect(patch(config())).toEqual(['workload']);
    const c = config();
    expect(requiredPermissions({ ...c, stages: ['cleanup'] }, 'ns', []).some((p) => p.resource === 'nodes' && p.verb === 'patch')).toBe(true);
    expect(patch(config({ scenario: 'pending-pods' }))).toEqual([]);
    expect(DO_NOT_DISRUPT).toBe('karpenter.sh/do-not-disrupt');
  });
});

// Issue 18: the conformance-grade decisions. The GPU trigger from kube-scheduler's messages (real
// shapes, 1.34 and older), the workload following the NodePool's taints, baseline identity,
// the stability window's change detection, Karpenter's refusals, and the stability-window input.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeChange, judgeBaseline, poolState } from '../../src/checks/baseline.js';
import { findTrigger, isKarpenterEvent, judgeTrigger, schedulerReasons } from '../../src/checks/pods.js';
import { judgeRefusals, REFUSAL_GRACE_MS, refusalHint, refusalOf } from '../../src/checks/refusal.js';
import { nodePoolTaints, poolTolerations, renderWorkload, tolerates, untoleratedTaints } from '../../src/checks/workload.js';
import { configFrom, readConfig } from '../../src/inputs.js';
import { parseWindow } from '../../src/parse.js';
import { STAGE_TIMEOUTS_MS } from '../../src/defaults.js';
import { newRunState } from '../../src/state.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered manifests are checked field by field
type Any = any;

const GPU_ONLY = '0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.';
const GPU_AND_TAINT =
  '0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) had untolerated taint(s). preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.';
const TAINT_134 =
  '0/1 nodes are available: 1 node(s) had untolerated taint(s). preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.';
const TAINT_OLD =
  '0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu-training}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.';
const STARTING_OLD =
  '0/1 nodes are available: 1 node(s) had untolerated taint {karpenter.sh/unregistered: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.';
const SELECTOR =
  "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.";
const CORDONED = '0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.';
const CPU_AND_SELECTOR =
  "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.";
const EMPTY = 'no nodes available to schedule pods';
// As kube-scheduler 1.34 writes them on the bed (the DRA plugin's PostFilter message before preemption's).
const GPU_134 =
  '0/1 nodes are available: 1 Insufficient nvidia.com/gpu. no new claims to deallocate, preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.';
const TAINT_134_DRA =
  '0/1 nodes are available: 1 node(s) had untolerated taint(s). no new claims to deallocate, preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.';
const PREFILTER =
  '0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.';

describe('the GPU trigger (pending)', () => {
  it("parses kube-scheduler's reasons, without the preemption part", () => {
    expect(schedulerReasons(GPU_AND_TAINT)).toEqual({
      nodes: 2,
      reasons: [
        { count: 1, text: 'Insufficient nvidia.com/gpu', kind: 'gpu' },
        { count: 1, text: 'node(s) had untolerated taint(s)', kind: 'other' },
      ],
    });
    expect(schedulerReasons(SELECTOR).reasons).toEqual([{ count: 4, text: "node(s) didn't match Pod's node affinity/selector", kind: 'outside-pool' }]);
    expect(schedulerReasons(STARTING_OLD).reasons[0]!.kind).toBe('starting');
    expect(schedulerReasons(TAINT_OLD).reasons[0]!.kind).toBe('other');
    expect(schedulerReasons(PREFILTER).reasons).toEqual([]);
    expect(schedulerReasons('something else')).toEqual({ reasons: [] });
  });
  it('reads the 1.34 shape with the DRA PostFilter message', () => {
    expect(schedulerReasons(GPU_134)).toEqual({ nodes: 1, reasons: [{ count: 1, text: 'Insufficient nvidia.com/gpu', kind: 'gpu' }] });
    expect(judgeTrigger(GPU_134, 1).kind).toBe('gpu');
    expect(judgeTrigger(TAINT_134_DRA, 1)).toMatchObject({ kind: 'other', detail: 'not for lack of nvidia.com/gpu: 1 node(s) had untolerated taint(s)' });
    expect(
      schedulerReasons('0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu.training}, 1 Insufficient nvidia.com/gpu.').reasons,
    ).toHaveLength(2);
  });
  it('counts a node lacking nvidia.com/gpu, whatever else the other nodes said', () => {
    expect(judgeTrigger(GPU_ONLY, 3)).toMatchObject({ kind: 'gpu', detail: '3 node(s) lacked nvidia.com/gpu' });
    expect(judgeTrigger(GPU_AND_TAINT, 1).kind).toBe('gpu');
  });
  it('counts an empty cluster, and a pool without nodes (every node ruled out is outside it)', () => {
    expect(judgeTrigger(EMPTY, 0).kind).toBe('gpu');
    expect(judgeTrigger(SELECTOR, 0)).toMatchObject({ kind: 'gpu', detail: 'the NodePool has no node yet: the 4 node(s) ruled out are outside it' });
    expect(judgeTrigger(TAINT_134, 0).kind).toBe('gpu'); // e.g. a tainted control-plane node
  });
  it('does not count a taint, a cordon, cpu or a PreFilter reason while the pool has nodes, and says what the scheduler said', () => {
    expect(judgeTrigger(TAINT_134, 1)).toMatchObject({ kind: 'other', detail: 'not for lack of nvidia.com/gpu: 1 node(s) had untolerated taint(s)' });
    expect(judgeTrigger(TAINT_OLD, 1).detail).toContain('untolerated taint {dedicated: gpu-training}');
    expect(judgeTrigger(CORDONED, 1)).toMatchObject({ kind: 'other', detail: 'not for lack of nvidia.com/gpu: 1 node(s) were unschedulable' });
    expect(judgeTrigger(CPU_AND_SELECTOR, 1).detail).toBe('not for lack of nvidia.com/gpu: 1 Insufficient cpu');
    expect(judgeTrigger(PREFILTER, 2)).toMatchObject({ kind: 'other', detail: `not for lack of nvidia.com/gpu: ${PREFILTER}` });
  });
  it('waits when only nodes still starting were ruled out', () => {
    expect(judgeTrigger(STARTING_OLD, 1).kind).toBe('undecided');
  });
  it('another GPU resource name is honoured', () => {
    expect(judgeTrigger('0/1 nodes are available: 1 Insufficient amd.com/gpu.', 1, 'amd.com/gpu').kind).toBe('gpu');
    expect(judgeTrigger(GPU_ONLY, 1, 'amd.com/gpu').kind).toBe('other');
  });
  const pod = (name: string, message: string | undefined, t = '2026-01-01T00:00:01Z', extra: Partial<k8s.V1Pod> = {}): k8s.V1Pod =>
    ({
      metadata: { name },
      spec: {},
      status: {
        phase: 'Pending',
        conditions: message === undefined ? [] : [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastTransitionTime: t }],
      },
      ...extra,
    }) as unknown as k8s.V1Pod;
  it('finds the earliest GPU trigger and lists pods unschedulable for other reasons', () => {
    const s = findTrigger(
      [pod('a', TAINT_134), pod('b', GPU_ONLY, '2026-01-01T00:00:03Z'), pod('c', GPU_ONLY, '2026-01-01T00:00:02Z'), pod('d', undefined)],
      1,
    );
    expect(s.trigger).toMatchObject({ pod: 'c', at: '2026-01-01T00:00:02.000Z', count: 2 });
    expect(s.other).toEqual([{ pod: 'a', message: TAINT_134, detail: 'not for lack of nvidia.com/gpu: 1 node(s) had untolerated taint(s)' }]);
    const none = findTrigger([pod('a', TAINT_134), pod('b', STARTING_OLD)], 1);
    expect(none.trigger).toBeUndefined();
    expect(none.undecided).toBe(1);
    expect(findTrigger([pod('x', GPU_ONLY, undefined, { metadata: { name: 'x', deletionTimestamp: new Date() } })], 1).trigger).toBeUndefined();
  });
  it("tells Karpenter's FailedScheduling events from the scheduler's", () => {
    const ev = (o: Partial<k8s.CoreV1Event>) => ({ involvedObject: {}, metadata: {}, ...o }) as k8s.CoreV1Event;
    expect(isKarpenterEvent(ev({ source: { component: 'karpenter' }, message: 'x' }))).toBe(true);
    expect(isKarpenterEvent(ev({ reportingComponent: 'karpenter', message: 'x' }))).toBe(true);
    expect(isKarpenterEvent(ev({ message: 'Failed to schedule pod, did not tolerate taint (taint=dedicated=gpu-training:NoSchedule)' }))).toBe(true);
    expect(isKarpenterEvent(ev({ source: { component: 'default-scheduler' }, message: GPU_ONLY }))).toBe(false);
    expect(isKarpenterEvent(ev({ reportingComponent: 'default-scheduler', message: EMPTY }))).toBe(false);
  });
});

const templates = {
  deployment: parse(readFileSync('manifests/workload/deployment.yaml', 'utf8')),
  hpa: parse(readFileSync('manifests/workload/hpa.yaml', 'utf8')),
};

describe('the workload follows the NodePool', () => {
  const tainted = {
    manifests: [
      {
        kind: 'NodePool',
        spec: {
          template: {
            spec: {
              taints: [
                { key: 'dedicated', value: 'gpu-training', effect: 'NoSchedule' },
                { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' },
              ],
              startupTaints: [{ key: 'example.com/agent-not-ready', effect: 'NoExecute' }],
            },
          },
        },
      },
    ],
  };
  it("reads the template's taints and startupTaints", () => {
    expect(nodePoolTaints(tainted)).toEqual({
      taints: [
        { key: 'dedicated', value: 'gpu-training', effect: 'NoSchedule' },
        { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' },
      ],
      startupTaints: [{ key: 'example.com/agent-not-ready', effect: 'NoExecute' }],
    });
    expect(nodePoolTaints({ manifests: [{ kind: 'NodePool', spec: {} }] })).toEqual({ taints: [], startupTaints: [] });
  });
  it('tolerates as the scheduler does', () => {
    const taint = { key: 'dedicated', value: 'gpu-training', effect: 'NoSchedule' };
    expect(tolerates({ key: 'dedicated', operator: 'Exists' }, taint)).toBe(true);
    expect(tolerates({ key: 'dedicated', operator: 'Equal', value: 'gpu-training', effect: 'NoSchedule' }, taint)).toBe(true);
    expect(tolerates({ key: 'dedicated', operator: 'Equal', value: 'other' }, taint)).toBe(false);
    expect(tolerates({ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }, taint)).toBe(false);
    expect(tolerates({ operator: 'Exists' }, taint)).toBe(true);
  });
  it("names a node's taints a pod does not tolerate (pending's failure)", () => {
    const taints = [
      { key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' },
      { key: 'example.com/maintenance', value: 'true', effect: 'NoSchedule' },
      { key: 'example.com/soft', value: 'x', effect: 'PreferNoSchedule' },
    ];
    expect(untoleratedTaints(templates.deployment.spec.template.spec.tolerations, taints)).toEqual([
      { key: 'example.com/maintenance', value: 'true', effect: 'NoSchedule' },
    ]);
  });
  it('adds one toleration per taint not yet tolerated', () => {
    const existing = templates.deployment.spec.template.spec.tolerations;
    expect(poolTolerations(tainted, existing)).toEqual([
      { key: 'dedicated', operator: 'Equal', value: 'gpu-training', effect: 'NoSchedule' },
      { key: 'example.com/agent-not-ready', operator: 'Exists', effect: 'NoExecute' },
    ]);
  });
  it('renders the Deployment with the pool selector and the tolerations of the NodePool it targets', () => {
    const config = configFrom({ 'run-id': 'r1' });
    const withTaint = { ...config, nodePool: { ...config.nodePool, name: 'training', manifests: tainted.manifests } };
    const [, d] = renderWorkload(templates, withTaint, newRunState(withTaint)) as Any[];
    const pod = d.spec.template.spec;
    expect(pod.nodeSelector).toEqual({ 'karpenter.sh/nodepool': 'training' });
    expect(pod.tolerations).toEqual([
      ...templates.deployment.spec.template.spec.tolerations,
      { key: 'dedicated', operator: 'Equal', value: 'gpu-training', effect: 'NoSchedule' },
      { key: 'example.com/agent-not-ready', operator: 'Exists', effect: 'NoExecute' },
    ]);
    // The shipped pool's taint (nvidia.com/gpu) is tolerated by the template already: nothing added.
    const [, plain] = renderWorkload(templates, config, newRunState(config)) as Any[];
    expect(plain.spec.template.spec.tolerations).toEqual(templates.deployment.spec.template.spec.tolerations);
  });
});

const node = (name: string, uid: string, o: { ready?: boolean; deleting?: boolean } = {}): k8s.V1Node =>
  ({
    metadata: { name, uid, deletionTimestamp: o.deleting ? '2026-01-01T00:01:00Z' : undefined },
    status: { conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  }) as unknown as k8s.V1Node;

describe('baseline identity (consolidation)', () => {
  const base = [
    { name: 'gpu-a', uid: 'u-a' },
    { name: 'gpu-b', uid: 'u-b' },
  ];
  it('passes with exactly the baseline nodes, same UIDs', () => {
    const v = judgeBaseline(base, [node('gpu-a', 'u-a'), node('gpu-b', 'u-b')]);
    expect(v).toMatchObject({ ok: true, gone: [], extra: [] });
    expect(v.detail).toBe('2/2 baseline node(s) intact; no other node in the pool');
  });
  it("fails when Karpenter removed a baseline node instead of the run's, naming it, even at the baseline count", () => {
    const v = judgeBaseline(base, [node('gpu-a', 'u-a'), node('gpu-run', 'u-run')]);
    expect(v.ok).toBe(false);
    expect(v.gone).toEqual([{ node: { name: 'gpu-b', uid: 'u-b' }, how: 'removed' }]);
    expect(v.extra).toEqual([{ name: 'gpu-run', uid: 'u-run' }]);
    expect(v.detail).toContain('gpu-b (uid u-b) removed');
  });
  it('tells a replaced node (same name, new UID) and one being deleted', () => {
    const v = judgeBaseline(base, [node('gpu-a', 'u-a2'), node('gpu-b', 'u-b', { deleting: true })]);
    expect(v.gone.map((g) => g.how)).toEqual(['replaced by a new node of the same name (uid u-a2)', 'being deleted since 2026-01-01T00:01:00.000Z']);
  });
  it("waits while the run's nodes are still there", () => {
    const v = judgeBaseline([], [node('gpu-run', 'u-run')]);
    expect(v).toMatchObject({ ok: false, gone: [], extra: [{ name: 'gpu-run', uid: 'u-run' }] });
    expect(judgeBaseline([], []).ok).toBe(true);
  });
});

describe('stability window: what changed', () => {
  const before = poolState([node('a', '1'), node('b', '2')]);
  it('sees nothing when only heartbeats came', () => {
    expect(describeChange(before, poolState([node('b', '2'), node('a', '1')]))).toBeUndefined();
  });
  it('names a flap (removed and added back: a new UID), an addition, a deletion and Ready changes', () => {
    expect(describeChange(before, poolState([node('a', '1'), node('b', '3')]))).toBe('node b (uid 2) removed; node b (uid 3) added');
    expect(describeChange(before, poolState([node('a', '1'), node('b', '2'), node('c', '4')]))).toBe('node c (uid 4) added');
    expect(describeChange(before, poolState([node('a', '1', { deleting: true }), node('b', '2', { ready: false })]))).toBe(
      'node a being deleted; node b became NotReady',
    );
  });
});

describe("Karpenter's refusals (provision)", () => {
  const ev = (name: string, pod: string, message: string, count = 1, component = 'karpenter'): k8s.CoreV1Event =>
    ({
      metadata: { name, uid: `uid-${name}`, namespace: 'ns' },
      involvedObject: { kind: 'Pod', name: pod },
      reason: 'FailedScheduling',
      source: { component },
      message,
      count,
    }) as k8s.CoreV1Event;
  const TAINT = 'Failed to schedule pod, did not tolerate taint (taint=dedicated=gpu-training:NoSchedule)';
  it("reads Karpenter's events about the workload's pods only", () => {
    expect(refusalOf(ev('e1', 'gpu-workload-1', TAINT), 'gpu-workload-', 1000)).toEqual({
      key: 'uid-e1',
      pod: 'gpu-workload-1',
      reason: 'did not tolerate taint (taint=dedicated=gpu-training:NoSchedule)',
      count: 1,
      seenAt: 1000,
    });
    expect(refusalOf(ev('e2', 'other-1', TAINT), 'gpu-workload-', 1000)).toBeUndefined();
    // The grace runs on the action's clock: an event stamped long ago by a skewed cluster clock does not cut it short.
    const old = { ...ev('e4', 'gpu-workload-2', TAINT), firstTimestamp: new Date('2020-01-01T00:00:00Z') } as k8s.CoreV1Event;
    expect(refusalOf(old, 'gpu-workload-', 5000)?.seenAt).toBe(5000);
    expect(refusalOf(ev('e3', 'gpu-workload-1', GPU_ONLY, 1, 'default-scheduler'), 'gpu-workload-', 1000)).toBeUndefined();
  });
  const r = (key: string, seenAt: number, count = 1) => ({
    key,
    pod: `gpu-workload-${key}`,
    reason: 'did not tolerate taint (taint=x:NoSchedule)',
    count,
    seenAt,
  });
  it('fails at three refusals with no NodeClaim of the run', () => {
    const v = judgeRefusals([r('a', 0), r('b', 0), r('c', 0)], 0, 1);
    expect(v).toMatchObject({
      kind: 'fail',
      events: 3,
      pods: ['gpu-workload-a', 'gpu-workload-b', 'gpu-workload-c'],
      reasons: ['did not tolerate taint (taint=x:NoSchedule)'],
    });
    expect(judgeRefusals([r('a', 0, 3)], 0, 1).kind).toBe('fail');
  });
  it('waits out the grace for fewer, then fails', () => {
    expect(judgeRefusals([r('a', 0)], 0, 10_000)).toEqual({ kind: 'wait', waitMs: REFUSAL_GRACE_MS - 10_000 });
    expect(judgeRefusals([r('a', 0)], 0, REFUSAL_GRACE_MS)).toMatchObject({ kind: 'fail', sinceMs: REFUSAL_GRACE_MS });
  });
  it('never fails once a NodeClaim of the run exists, or without refusals', () => {
    expect(judgeRefusals([r('a', 0), r('b', 0), r('c', 0)], 1, 60_000)).toEqual({ kind: 'none' });
    expect(judgeRefusals([], 0, 60_000)).toEqual({ kind: 'none' });
  });
  it('judges nothing while the NodeClaims are not known (their watch failing: the API not answering)', () => {
    // Karpenter may have made one meanwhile: "made no NodeClaim" cannot be said; the stage timeout decides.
    expect(judgeRefusals([r('a', 0), r('b', 0), r('c', 0)], undefined, 60_000)).toEqual({ kind: 'none' });
    expect(judgeRefusals([r('a', 0)], undefined, REFUSAL_GRACE_MS)).toEqual({ kind: 'none' });
  });
  it('says what to check for the reason', () => {
    expect(refusalHint(['did not tolerate taint (taint=dedicated=gpu-training:NoSchedule)'], 'gpu')).toContain('do not tolerate a taint of NodePool gpu');
    expect(refusalHint(['all available instance types exceed limits for nodepool'], 'gpu')).toContain('spec.limits');
    expect(refusalHint(['incompatible requirements, key karpenter.sh/nodepool'], 'gpu')).toContain('requirements');
  });
});

describe('stability-window input', () => {
  const root = path.resolve(import.meta.dirname, '../..');
  process.env.GAC_ACTION_ROOT = root;
  const env = { RUNNER_TEMP: '/tmp' };
  it('parses durations and 0', () => {
    expect(parseWindow('30s')).toEqual({ ok: true, value: 30_000 });
    expect(parseWindow('1m30s')).toEqual({ ok: true, value: 90_000 });
    expect(parseWindow('0')).toEqual({ ok: true, value: 0 });
    expect(parseWindow('0s')).toEqual({ ok: true, value: 0 });
    expect(parseWindow('11m')).toMatchObject({ ok: false, problem: expect.stringContaining('out of range') });
    expect(parseWindow('500ms')).toMatchObject({ ok: false, problem: expect.stringContaining('out of range') });
    expect(parseWindow('soon')).toMatchObject({ ok: false, problem: expect.stringContaining('is not a duration') });
  });
  it('defaults to none, so the default run is not slower; a window grows the default budgets of provision and consolidation', () => {
    expect(readConfig(() => '', env).config!.stabilityWindowMs).toBe(0);
    const c = readConfig((n) => ({ 'stability-window': '30s' })[n] ?? '', env).config!;
    expect(c.stabilityWindowMs).toBe(30_000);
    expect(c.timeouts.provision).toBe(STAGE_TIMEOUTS_MS.provision + 30_000);
    expect(c.timeouts.consolidation).toBe(STAGE_TIMEOUTS_MS.consolidation + 30_000);
    const o = readConfig((n) => ({ 'stability-window': '30s', timeouts: 'provision=2m' })[n] ?? '', env).config!;
    expect(o.timeouts.provision).toBe(120_000);
  });
  it('is validated with the other inputs', () => {
    expect(readConfig((n) => ({ 'stability-window': 'forever' })[n] ?? '', env).errors).toEqual([
      'input "stability-window": "forever" is not a duration; accepted: a duration such as 30s or 1m (units ms, s, m, h) from 1s to 10m, or 0 for none',
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import type * as k8s from '@kubernetes/client-node';
import { parseQuantity, gpusIn } from '../../src/checks/quantity.js';
import { evaluateHpa, hpaMetricValue } from '../../src/checks/hpa.js';
import { firstUnschedulable, isUnschedulable, summarizeSchedule } from '../../src/checks/pods.js';
import {
  claimsByDecision,
  claimStage,
  consolidationState,
  evaluateClaims,
  extremeTime,
  isRunNodeClaim,
  conditionTime,
  type NodeClaim,
} from '../../src/checks/capacity.js';
import { metricListed, metricValue } from '../../src/checks/metric.js';
import { formatConditions, iso } from '../../src/checks/conditions.js';

const cond = (type: string, status: string, lastTransitionTime = '2026-01-01T00:00:00Z', reason?: string, message?: string) => ({
  type,
  status,
  lastTransitionTime,
  reason,
  message,
});

describe('quantities', () => {
  it('parses decimal and binary suffixes', () => {
    expect(parseQuantity('500m')).toBe(0.5);
    expect(parseQuantity('4')).toBe(4);
    expect(parseQuantity('2Ki')).toBe(2048);
    expect(parseQuantity('1.5k')).toBe(1500);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity(7)).toBe(7);
    expect(parseQuantity('abc')).toBeUndefined();
    expect(parseQuantity(undefined)).toBeUndefined();
  });
  it('reads GPUs from a resource list', () => {
    expect(gpusIn({ 'nvidia.com/gpu': '8', cpu: '4' })).toBe(8);
    expect(gpusIn({ cpu: '4' })).toBe(0);
    expect(gpusIn(undefined)).toBe(0);
  });
});

describe('HPA decision', () => {
  const hpa = (desired: number, conds: ReturnType<typeof cond>[], value = '300'): k8s.V2HorizontalPodAutoscaler =>
    ({
      status: {
        desiredReplicas: desired,
        currentReplicas: 1,
        lastScaleTime: '2026-01-01T00:00:05Z',
        conditions: conds,
        currentMetrics: [{ type: 'External', external: { metric: { name: 'm' }, current: { averageValue: value } } }],
      },
    }) as unknown as k8s.V2HorizontalPodAutoscaler;
  it('passes when active, able and above min', () => {
    const v = evaluateHpa(hpa(4, [cond('ScalingActive', 'True'), cond('AbleToScale', 'True')]), 1, 'm');
    expect(v.ok).toBe(true);
    expect(v.desiredReplicas).toBe(4);
    expect(v.metricValue).toBe('300');
    expect(v.lastScaleTime).toBe('2026-01-01T00:00:05.000Z');
  });
  it('names every missing part', () => {
    const v = evaluateHpa(hpa(1, [cond('ScalingActive', 'False', undefined, 'FailedGetExternalMetric', 'no metric')]), 1, 'm');
    expect(v.ok).toBe(false);
    expect(v.detail).toContain('ScalingActive=False (FailedGetExternalMetric: no metric)');
    expect(v.detail).toContain('AbleToScale=absent');
    expect(v.detail).toContain('desiredReplicas 1 not above minReplicas 1');
  });
  it('reads only the configured external metric', () => {
    expect(hpaMetricValue(hpa(2, []), 'other')).toBeUndefined();
  });
  it('tells a decision the scale-up policy held back (ScaleUpLimit) from one capped at max-replicas', () => {
    const base = [cond('ScalingActive', 'True'), cond('AbleToScale', 'True')];
    expect(evaluateHpa(hpa(5, [...base, cond('ScalingLimited', 'True', undefined, 'ScaleUpLimit')]), 1, 'm').rateLimited).toBe(true);
    expect(evaluateHpa(hpa(8, [...base, cond('ScalingLimited', 'True', undefined, 'TooManyReplicas')]), 1, 'm').rateLimited).toBe(false);
    expect(evaluateHpa(hpa(8, [...base, cond('ScalingLimited', 'False', undefined, 'DesiredWithinRange')]), 1, 'm').rateLimited).toBe(false);
    expect(evaluateHpa(hpa(8, base), 1, 'm').rateLimited).toBe(false);
  });
});

describe('capacity made before the HPA decided', () => {
  const claim = (name: string, created: string) => ({ metadata: { name, creationTimestamp: new Date(created) } }) as unknown as NodeClaim;
  const claims = [claim('early', '2026-01-01T00:00:03Z'), claim('same-second', '2026-01-01T00:00:10Z'), claim('late', '2026-01-01T00:00:12Z')];
  it("counts a claim created before the decision as the min-replicas pods' and the rest (same second included) as the scale-out's", () => {
    const split = claimsByDecision(claims, '2026-01-01T00:00:10Z');
    expect(split.forMinReplicas.map((c) => c.metadata?.name)).toEqual(['early']);
    expect(split.forScaleOut.map((c) => c.metadata?.name)).toEqual(['same-second', 'late']);
  });
  it('gives every claim to the scale-out when there was no HPA decision (pending-pods)', () => {
    expect(claimsByDecision(claims, undefined).forScaleOut).toHaveLength(3);
    expect(claimsByDecision(claims, undefined).forMinReplicas).toHaveLength(0);
  });
});

describe('pods', () => {
  const pod = (name: string, o: { phase?: string; node?: string; conds?: ReturnType<typeof cond>[]; deleting?: boolean }): k8s.V1Pod =>
    ({
      metadata: { name, deletionTimestamp: o.deleting ? '2026-01-01T00:00:00Z' : undefined },
      spec: { nodeName: o.node },
      status: { phase: o.phase ?? 'Pending', conditions: o.conds ?? [] },
    }) as unknown as k8s.V1Pod;
  const unsched = (name: string, t: string) => pod(name, { conds: [cond('PodScheduled', 'False', t, 'Unschedulable', '0/1 nodes are available')] });
  it('detects Unschedulable only with that reason', () => {
    expect(isUnschedulable(unsched('a', '2026-01-01T00:00:01Z'))).toBe(true);
    expect(isUnschedulable(pod('b', { conds: [cond('PodScheduled', 'False', undefined, 'SchedulingGated')] }))).toBe(false);
    expect(isUnschedulable(pod('c', { conds: [cond('PodScheduled', 'True')] }))).toBe(false);
  });
  it('finds the earliest Unschedulable pod and counts them, ignoring deleted ones', () => {
    const f = firstUnschedulable([
      unsched('late', '2026-01-01T00:00:09Z'),
      unsched('early', '2026-01-01T00:00:02Z'),
      { ...unsched('gone', '2026-01-01T00:00:01Z'), metadata: { name: 'gone', deletionTimestamp: new Date() } } as k8s.V1Pod,
    ]);
    expect(f).toMatchObject({ pod: 'early', at: '2026-01-01T00:00:02.000Z', count: 2 });
    expect(firstUnschedulable([])).toBeUndefined();
  });
  it('requires every desired replica Running and Ready on the pool, none pending', () => {
    const running = (name: string, node: string, t: string) => pod(name, { phase: 'Running', node, conds: [cond('Ready', 'True', t)] });
    const pool = new Set(['n1', 'n2']);
    const ok = summarizeSchedule([running('a', 'n1', '2026-01-01T00:00:03Z'), running('b', 'n2', '2026-01-01T00:00:07Z')], pool, 2);
    expect(ok.ok).toBe(true);
    expect(ok.perNode).toEqual({ n1: 1, n2: 1 });
    expect(ok.lastRunning).toEqual({ pod: 'b', at: '2026-01-01T00:00:07.000Z' });
    const short = summarizeSchedule([running('a', 'n1', '2026-01-01T00:00:03Z'), pod('p', {})], pool, 2);
    expect(short.ok).toBe(false);
    expect(short.pending).toEqual(['p']);
    const outside = summarizeSchedule([running('a', 'n1', 't'), running('b', 'other', 't')], pool, 2);
    expect(outside.ok).toBe(false);
    expect(outside.elsewhere).toEqual(['b@other']);
    expect(summarizeSchedule([], pool, 0).ok).toBe(false);
  });
});

describe('capacity', () => {
  const run = { key: 'gpu-autoscaling-conformance/run-id', value: 'r1' };
  const claim = (
    name: string,
    labels: Record<string, string>,
    conds: ReturnType<typeof cond>[] = [],
    extra: Partial<NodeClaim['status']> = {},
    created = '2026-01-01T00:00:10Z',
  ): NodeClaim => ({
    metadata: { name, labels, creationTimestamp: created as unknown as Date },
    status: { conditions: conds, ...extra },
  });
  const id = { pool: 'gpu', runLabel: run, since: '2026-01-01T00:00:05Z' };
  it("tells this run's NodeClaims apart", () => {
    expect(isRunNodeClaim(claim('a', { 'karpenter.sh/nodepool': 'gpu', [run.key]: 'r1' }), id)).toBe(true);
    expect(isRunNodeClaim(claim('b', { 'karpenter.sh/nodepool': 'gpu', [run.key]: 'r0' }), id)).toBe(false);
    expect(isRunNodeClaim(claim('c', { 'karpenter.sh/nodepool': 'other', [run.key]: 'r1' }), id)).toBe(false);
    expect(isRunNodeClaim(claim('d', { 'karpenter.sh/nodepool': 'gpu' }), id)).toBe(true);
    expect(isRunNodeClaim(claim('e', { 'karpenter.sh/nodepool': 'gpu' }, [], {}, '2026-01-01T00:00:01Z'), id)).toBe(false);
    expect(isRunNodeClaim(claim('f', { 'karpenter.sh/nodepool': 'gpu' }), { ...id, since: undefined })).toBe(false);
  });
  it('follows Launched -> Registered -> Initialized', () => {
    expect(claimStage(claim('a', {}))).toBe('Created');
    expect(claimStage(claim('a', {}, [cond('Launched', 'True'), cond('Registered', 'Unknown')]))).toBe('Launched');
    expect(claimStage(claim('a', {}, [cond('Launched', 'True'), cond('Registered', 'True'), cond('Initialized', 'True')]))).toBe('Initialized');
  });
  it('needs every claim Initialized and enough GPUs', () => {
    const init = (n: string, gpus: string) => claim(n, {}, [cond('Initialized', 'True')], { allocatable: { 'nvidia.com/gpu': gpus } });
    expect(evaluateClaims([init('a', '1'), init('b', '1')], 2, 0).ok).toBe(true);
    expect(evaluateClaims([init('a', '1')], 2, 0).ok).toBe(false);
    expect(evaluateClaims([init('a', '1')], 2, 1).ok).toBe(true);
    const v = evaluateClaims([init('a', '8'), claim('b', {}, [cond('Launched', 'True')])], 1, 0);
    expect(v.ok).toBe(false);
    expect(v.detail).toContain('1 Initialized, 1 Launched');
    expect(evaluateClaims([], 0, 5).ok).toBe(false);
  });
  it('picks earliest/latest times for the timeline', () => {
    const cs = [
      claim('a', {}, [cond('Launched', 'True', '2026-01-01T00:00:20Z')]),
      claim('b', {}, [cond('Launched', 'True', '2026-01-01T00:00:30Z')], {}, '2026-01-01T00:00:05Z'),
    ];
    expect(extremeTime(cs, conditionTime('Launched'), (c) => c.metadata!.name!, 'max')).toEqual({ at: '2026-01-01T00:00:30.000Z', name: 'b' });
    expect(
      extremeTime(
        cs,
        (c) => c.metadata?.creationTimestamp,
        (c) => c.metadata!.name!,
        'min',
      ),
    ).toEqual({ at: '2026-01-01T00:00:05.000Z', name: 'b' });
    expect(
      extremeTime(
        [],
        () => undefined,
        () => '',
        'min',
      ),
    ).toBeUndefined();
  });
  it('consolidation holds at baseline with no claims left', () => {
    expect(consolidationState(0, 0, 0).ok).toBe(true);
    expect(consolidationState(1, 0, 0).ok).toBe(false);
    expect(consolidationState(2, 2, 1).ok).toBe(false);
  });
});

describe('external metric answers', () => {
  it('finds the metric in discovery', () => {
    expect(metricListed({ resources: [{ name: 'dcgm_gpu_power_usage' }] }, 'dcgm_gpu_power_usage')).toBe(true);
    expect(metricListed({ resources: [{ name: 'x' }] }, 'dcgm_gpu_power_usage')).toBe(false);
    expect(metricListed(undefined, 'x')).toBe(false);
  });
  it('reads values and the newest timestamp', () => {
    expect(metricValue({ items: [] })).toBeUndefined();
    expect(
      metricValue({
        items: [
          { value: '300', timestamp: '2026-01-01T00:00:01Z' },
          { value: '500m', timestamp: '2026-01-01T00:00:02Z' },
        ],
      }),
    ).toEqual({ value: '300, 500m', total: 300.5, series: 2, timestamp: '2026-01-01T00:00:02Z' });
  });
});

describe('conditions', () => {
  it('formats conditions and times', () => {
    expect(formatConditions({ status: { conditions: [cond('Ready', 'True', '2026-01-01T00:00:00Z', 'KubeletReady', 'ok')] } })).toBe(
      'Ready=True (KubeletReady: ok) since 2026-01-01T00:00:00.000Z',
    );
    expect(formatConditions({})).toBe('(no conditions)');
    expect(iso(new Date('2026-01-01T00:00:00Z'))).toBe('2026-01-01T00:00:00.000Z');
  });
});

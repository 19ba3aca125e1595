// The whole chain against the bed with Karpenter as a child process: the metric scenario with
// the defaults (the DCGM stand-in driven up so the HPA scales out), and the pending-pods scenario
// with one 1-GPU pod, which must land on the cheapest fitting type (g5.xlarge).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAGE_NAMES, TIMELINE_EVENTS } from '../../src/types.js';
import type { Kube } from '../../src/kube/client.js';
import { IDLE } from '../../testbed/dcgm-exporter.js';
import { loadBed, setGpuMetrics, type Bed } from '../../testbed/lib/bed.js';
import { ONE_POD, bedConfig, evidenceOf, expectClean, kubeFor, runChain, summary, useToolCache } from './stages-lib.js';

let bed: Bed;
let kube: Kube;

beforeAll(async () => {
  bed = loadBed();
  kube = kubeFor(bed);
  useToolCache();
  // 300 W per GPU against the default target of 10 per replica: the HPA wants max-replicas.
  await setGpuMetrics(bed, { power: 300 });
});

afterAll(async () => {
  if (bed) await setGpuMetrics(bed, IDLE);
});

describe('the chain', () => {
  it('passes end to end with the defaults (metric scenario)', async () => {
    const c = await runChain(bedConfig(bed));
    for (const r of c.records) expect(['pass', 'skip'], summary(c)).toContain(r.status);
    for (const name of STAGE_NAMES.filter((n) => n !== 'tools' && n !== 'karpenter-build')) {
      expect(c.record(name).status, summary(c)).toBe('pass');
    }
    expect(c.run.outputs.hpaDesiredReplicas).toBe(c.config.maxReplicas);
    expect(c.run.outputs.podsScheduled).toBe(c.config.maxReplicas);
    expect(c.run.outputs.nodesProvisioned).toBeGreaterThan(0);
    expect(c.run.baselineNodes).toBe(0);
    expect(c.run.versions.kubernetes).toMatch(/^v1\./);
    // Every point of the timeline, from the cluster's own timestamps, in chain order.
    // Two points are there only when they happened: the HPA rate-limited on its way up, and
    // capacity Karpenter made for the min-replicas pod before the HPA decided.
    const sometimes: string[] = ['hpa-settled', 'min-replicas-nodeclaim-created'];
    expect(
      c.run.timeline
        .map((t) => t.event)
        .filter((e) => !sometimes.includes(e))
        .sort(),
    ).toEqual(TIMELINE_EVENTS.filter((e) => !sometimes.includes(e)).sort());
    const at = Object.fromEntries(c.run.timeline.map((t) => [t.event, Date.parse(t.at)]));
    // The scale-out's first NodeClaim is not the one made for the min-replicas pod before the decision.
    expect(at['nodeclaim-created']).toBeGreaterThanOrEqual(at['hpa-scale-decision']!);
    if (at['min-replicas-nodeclaim-created'] !== undefined) {
      expect(at['min-replicas-nodeclaim-created']).toBeLessThan(at['hpa-scale-decision']!);
      expect(evidenceOf(c.record('provision'), 'Capacity made before the HPA decided')).toContain('min-replicas pod(s)');
    }
    expect(at['nodeclaim-created']).toBeLessThanOrEqual(at['nodeclaim-launched']!);
    expect(at['nodeclaim-launched']).toBeLessThanOrEqual(at['nodeclaim-initialized']!);
    expect(at['workload-deleted']).toBeLessThanOrEqual(at['last-node-gone']!);
    expect(evidenceOf(c.record('hpa'), 'HPA scale-out decision')).toContain('ScalingActive=True');
    // Report figures: timeline relative to the HPA decision and the time per stage.
    const t0 = at['metric-first-seen']!;
    console.log(
      [
        'timeline (s from metric-first-seen):',
        ...c.run.timeline.map((t) => `  ${t.event.padEnd(24)} +${((Date.parse(t.at) - t0) / 1000).toFixed(1)}  (${t.source})`),
      ].join('\n'),
    );
    console.log(['stages:', ...c.records.map((r) => `  ${r.name.padEnd(18)} ${r.status} ${(r.durationMs / 1000).toFixed(1)}s  ${r.message}`)].join('\n'));
    await expectClean(kube, c);
  });

  it('passes the pending-pods scenario; one 1-GPU pod lands on g5.xlarge', async () => {
    const c = await runChain(bedConfig(bed, { scenario: 'pending-pods', 'gpus-per-pod': '1' }, {}, ONE_POD));
    for (const r of c.records) expect(['pass', 'skip'], summary(c)).toContain(r.status);
    expect(c.record('metric').status).toBe('skip');
    expect(c.record('hpa').status).toBe('skip');
    expect(c.record('pending').status).toBe('pass');
    const sizing = JSON.parse(evidenceOf(c.record('schedule'), 'Right-sizing')) as { instanceType: string; rightSized: boolean }[];
    expect(sizing).toEqual([expect.objectContaining({ instanceType: 'g5.xlarge', rightSized: true })]);
    expect(c.run.outputs.podsScheduled).toBe(1);
    await expectClean(kube, c);
  });
});

import { describe, expect, it } from 'vitest';
import {
  HEARTBEAT_STALE_MS,
  KARPENTER_MODE_ANNOTATION,
  leaseRenewedAt,
  liveRuns,
  microTime,
  renewedLease,
  runLease,
  runsWithOwnKarpenter,
  serverTime,
  staleObjects,
  type Lease,
} from '../../src/checks/liveness.js';
import { leasePath } from '../../src/stages/heartbeat.js';
import { ALL_STAGES } from '../../src/stages/index.js';
import { newRunState } from '../../src/state.js';
import { configFrom } from '../../src/inputs.js';

const key = 'gpu-autoscaling-conformance/run-id';
const now = Date.parse('2026-11-30T12:00:00Z');
const ago = (ms: number) => new Date(now - ms).toISOString();
const obj = (name: string, run: string | undefined, created: string) => {
  const labels: Record<string, string> = run === undefined ? {} : { [key]: run };
  const annotations: Record<string, string> = {};
  // creationTimestamp arrives as a string from the API (the client's type says Date)
  return { metadata: { name, creationTimestamp: created as unknown as Date, labels, annotations } };
};
/** A Lease as the API returns it: `written` is the server's time of its last write (managedFields), `renew` the client's renewTime. */
const lease = (run: string | undefined, opts: { written?: string; renew?: string; created?: string; durationS?: number }): Lease => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: {
    name: `ns-${run}`,
    labels: run === undefined ? {} : { [key]: run },
    creationTimestamp: (opts.created ?? ago(600_000)) as unknown as Date,
    ...(opts.written ? { managedFields: [{ manager: 'gpu-autoscaling-conformance', operation: 'Update', time: opts.written as unknown as Date }] } : {}),
  },
  spec: { holderIdentity: run, renewTime: opts.renew, ...(opts.durationS ? { leaseDurationSeconds: opts.durationS } : {}) },
});

describe('run Leases', () => {
  const run = newRunState(configFrom({ 'run-id': 'r1' }));

  it('writes times as MicroTime, which the API server requires for a Lease', () => {
    expect(microTime(new Date(now + 123))).toBe('2026-11-30T12:00:00.123000Z');
  });

  it("is the run's: in the lease namespace, named as the run's namespace, labelled for it, held by the run id for the stale window", () => {
    expect(configFrom({}).leaseNamespace).toBe('default');
    expect(runLease(run, 'default', new Date(now))).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'gpu-conformance-r1', namespace: 'default', labels: { [run.runLabel.key]: 'r1' } },
      spec: {
        holderIdentity: 'r1',
        leaseDurationSeconds: HEARTBEAT_STALE_MS / 1000,
        acquireTime: '2026-11-30T12:00:00.000000Z',
        renewTime: '2026-11-30T12:00:00.000000Z',
      },
    });
    expect(leasePath(run, 'runs')).toBe('/apis/coordination.k8s.io/v1/namespaces/runs/leases/gpu-conformance-r1');
  });

  it('renews by changing renewTime only, keeping the resourceVersion that guards the update', () => {
    const held = {
      ...runLease(run, 'default', new Date(now - 5_000)),
      metadata: { ...runLease(run, 'default', new Date(now)).metadata, resourceVersion: '42' },
    };
    const renewed = renewedLease(held, new Date(now));
    expect(renewed.metadata?.resourceVersion).toBe('42');
    expect(renewed.spec).toEqual({ ...held.spec, renewTime: '2026-11-30T12:00:00.000000Z' });
    expect(held.spec?.renewTime).toBe('2026-11-30T11:59:55.000000Z');
  });

  it("takes the server's time of the last write, not the client's renewTime, as the renewal", () => {
    // The writer's clock is an hour behind: its renewTime says nothing about when the server saw it.
    expect(leaseRenewedAt(lease('a', { written: ago(3_000), renew: ago(3_600_000) }))).toBe(now - 3_000);
    // No managedFields (a server that keeps none): the renewTime, or the creation, is all there is.
    expect(leaseRenewedAt(lease('a', { renew: ago(2_000) }))).toBe(now - 2_000);
    expect(leaseRenewedAt(lease('a', { created: ago(9_000) }))).toBe(now - 9_000);
    expect(leaseRenewedAt(lease('a', { created: 'not a time' }))).toBeUndefined();
  });

  it('counts a run live while its Lease was renewed within its duration, on the server clock', () => {
    const leases = [
      lease('a', { written: ago(4_000) }), // renewing
      lease('b', { written: ago(HEARTBEAT_STALE_MS + 1_000), renew: new Date(now + 3_600_000).toISOString() }), // stopped (its clock runs fast)
      lease('c', { written: ago(1_000), renew: ago(3_600_000) }), // renewing (its clock runs slow)
      lease('d', { written: ago(40_000), durationS: 120 }), // a longer duration of its own
      lease(undefined, { written: ago(0) }),
    ];
    expect([...liveRuns(leases, key, now)].sort()).toEqual(['a', 'c', 'd']);
    // A runner whose clock is 30 s ahead would take a's and c's Leases for stale: the server's time does not.
    expect([...liveRuns(leases, key, now + 30_000)].sort()).toEqual(['d']);
  });

  it("reads the server's time from the Date header, else falls back", () => {
    expect(serverTime('Mon, 30 Nov 2026 12:00:00 GMT', 7)).toBe(now);
    expect(serverTime(undefined, 7)).toBe(7);
    expect(serverTime('garbage', 7)).toBe(7);
  });

  it('exists before the run makes anything another run could take for a leftover (its namespace, its NodeClaims)', () => {
    expect(ALL_STAGES.filter((s) => s.makesRunNamespace).map((s) => s.name)).toEqual(['workload']);
    // Not earlier: a namespace made before the metric stage could not be deleted while an
    // aggregated API (the metrics adapter) is down, which is how a run fails in metric.
    expect(ALL_STAGES.findIndex((s) => s.makesRunNamespace)).toBeGreaterThan(ALL_STAGES.findIndex((s) => s.name === 'metric'));
  });
});

describe('leftovers', () => {
  it('are objects of other runs that are not live', () => {
    const self = { key, value: 'me' };
    const objs = [obj('mine', 'me', ago(0)), obj('crashed', 'x', ago(0)), obj('running', 'a', ago(0)), obj('plain', undefined, ago(0))];
    expect(staleObjects(objs, self, new Set(['a'])).map((o) => o.metadata.name)).toEqual(['crashed']);
    // without knowing of live runs, every other run's object is a leftover
    expect(staleObjects(objs, self).map((o) => o.metadata.name)).toEqual(['crashed', 'running']);
  });

  it('names the live runs that started a Karpenter of their own', () => {
    const withMode = (name: string, run: string, mode: string) => {
      const o = obj(name, run, ago(0));
      o.metadata.annotations[KARPENTER_MODE_ANNOTATION] = mode;
      return o;
    };
    const carriers = [
      withMode('ns-b', 'b', 'process'),
      withMode('pool-b', 'b', 'process'),
      withMode('ns-a', 'a', 'existing'),
      withMode('ns-x', 'x', 'process'),
    ];
    // x is not live: a crashed process-mode run has no Karpenter left running
    expect(runsWithOwnKarpenter(carriers, key, new Set(['a', 'b']))).toEqual(['b']);
    expect(runsWithOwnKarpenter(carriers, key, new Set(['a']))).toEqual([]);
  });
});

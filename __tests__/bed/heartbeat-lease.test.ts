// The run's heartbeat against the bed's real API server: a coordination.k8s.io/v1 Lease in the
// lease namespace, renewed with the server stamping the time of each write, so liveness holds
// whatever the runner's clock says; preflight tells a run without a renewed Lease (a leftover)
// from a live one.
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseRenewedAt, liveRuns, runLease, serverTime, type Lease } from '../../src/checks/liveness.js';
import { applyObject } from '../../src/kube/apply.js';
import type { Kube } from '../../src/kube/client.js';
import { leasesIn } from '../../src/kube/paths.js';
import { rawRequest } from '../../src/kube/raw.js';
import { watchUntil } from '../../src/kube/watch.js';
import { runStages } from '../../src/runner.js';
import { cleanupStage, createdNothing } from '../../src/stages/cleanup.js';
import { holdRunLease, leasePath, renewLease, startHeartbeat } from '../../src/stages/heartbeat.js';
import { pinNodes } from '../../src/stages/pin.js';
import { DO_NOT_DISRUPT, PINNED_BY_LABEL } from '../../src/checks/nplusone.js';
import { preflightStage } from '../../src/stages/preflight.js';
import { probeUntil } from '../../src/stages/wait.js';
import { newRunState, RUN_LABEL_KEY } from '../../src/state.js';
import type { Config, RunState } from '../../src/types.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { bedKube, deleteNamespaces } from '../support/cluster.js';
import { bedConfig } from './stages-lib.js';

let bed: Bed;
let kube: Kube;
const made: string[] = [];

const existing = (inputs: Record<string, string> = {}): Config =>
  bedConfig(bed, { 'karpenter-mode': 'existing', scenario: 'pending-pods', stages: 'preflight,workload,cleanup', ...inputs });

/** Every run's Lease and the API server's time of the answer, as preflight reads them. */
async function leasesNow(): Promise<{ leases: Lease[]; serverNow: number }> {
  const r = await rawRequest(kube, leasesIn('default'), { query: { labelSelector: RUN_LABEL_KEY } });
  expect(r.status, r.text).toBe(200);
  return { leases: (r.body as { items: Lease[] }).items, serverNow: serverTime(r.headers.date, Date.now()) };
}

async function hold(config: Config): Promise<{ run: RunState; lease: Lease }> {
  const run = newRunState(config);
  made.push(run.namespace);
  return { run, lease: await holdRunLease(kube, config, run) };
}

const leaseOf = (run: RunState) => leasePath(run, 'default');

beforeAll(() => {
  bed = loadBed();
  kube = bedKube(bed.kubeconfig);
});

// Gone before the next file takes its snapshot of the cluster.
afterAll(async () => {
  for (const ns of made) await rawRequest(kube, `${leasesIn('default')}/${ns}`, { method: 'DELETE' });
  await deleteNamespaces(kube, made);
});

describe("the run's Lease", () => {
  it('is made in the lease namespace with the run namespace, labelled for the run, and recorded for cleanup', async () => {
    const config = existing();
    const { run, lease } = await hold(config);
    expect(createdNothing(run)).toBe(false);
    expect(run.leaseNamespace).toBe('default');
    const ns = await kube.core.readNamespace({ name: run.namespace });
    expect(ns.metadata?.labels?.[RUN_LABEL_KEY]).toBe(run.runId);
    expect(ns.metadata?.annotations?.['gpu-autoscaling-conformance/karpenter-mode']).toBe('existing');
    expect(run.namespaceCreatedAt).toBe(new Date(ns.metadata!.creationTimestamp!).toISOString());
    expect(lease.metadata).toMatchObject({ name: run.namespace, namespace: 'default', labels: { [RUN_LABEL_KEY]: run.runId } });
    expect(lease.spec).toMatchObject({ holderIdentity: run.runId, leaseDurationSeconds: 20 });
    expect(liveRuns((await leasesNow()).leases, RUN_LABEL_KEY, (await leasesNow()).serverNow).has(run.runId)).toBe(true);
    // The same run id again (a re-run of the job): the Lease there is taken over, not an error.
    const again = await holdRunLease(kube, config, run);
    expect(again.metadata?.uid).toBe(lease.metadata?.uid);
  });

  it("is judged live on the server's clock: a runner whose clock is an hour behind still counts as live", async () => {
    const { run, lease } = await hold(existing());
    const created = leaseRenewedAt(lease)!;
    const behind = () => new Date(Date.now() - 3_600_000);
    // The server stamps writes to the second: renew until its stamp moves past the creation.
    const renewed = await probeUntil(
      { signal: AbortSignal.timeout(10_000), info: () => undefined },
      async () => {
        const l = await renewLease(kube, run, undefined, undefined, behind());
        return { result: l && leaseRenewedAt(l)! > created ? l : undefined, state: `renewed at ${l ? leaseRenewedAt(l) : '-'}` };
      },
      { expected: 'a renewal the server stamps later than the creation', next: 'check the API server keeps managedFields' },
    );
    expect(renewed.spec?.renewTime?.startsWith(String(behind().getUTCFullYear()))).toBe(true);
    const { leases, serverNow } = await leasesNow();
    expect(liveRuns(leases, RUN_LABEL_KEY, serverNow).has(run.runId)).toBe(true);
    // By its renewTime alone (the runner's clock) the run would look an hour dead.
    const clientOnly = leases.map((l) => ({ ...l, metadata: { ...l.metadata, managedFields: undefined, creationTimestamp: undefined } }));
    expect(liveRuns(clientOnly, RUN_LABEL_KEY, serverNow).has(run.runId)).toBe(false);
    // A stale resourceVersion does not overwrite a newer renewal: the update is refused.
    expect(await renewLease(kube, run, lease)).toBeUndefined();
  });

  it('is renewed every interval while the heartbeat runs, and not after it stops', async () => {
    const config = existing();
    const run = newRunState(config);
    made.push(run.namespace);
    const heartbeat = startHeartbeat(() => kube, run, 200);
    await heartbeat.hold(kube, config);
    const first = (await rawRequest(kube, leaseOf(run))).body as Lease;
    const renewals = await watchUntil<Lease, number>(kube, {
      path: leasesIn('default'),
      fieldSelector: `metadata.name=${run.namespace}`,
      describe: 'the Lease renewed twice',
      signal: AbortSignal.timeout(10_000),
      until: (items) => {
        const rv = Number([...items.values()][0]?.metadata?.resourceVersion ?? 0);
        return rv >= Number(first.metadata!.resourceVersion) + 2 ? rv : undefined;
      },
    });
    expect(renewals).toBeGreaterThan(Number(first.metadata!.resourceVersion));
    await heartbeat.stop();
    const stopped = ((await rawRequest(kube, leaseOf(run))).body as Lease).metadata!.resourceVersion;
    const later = await probeUntil(
      { signal: AbortSignal.timeout(5_000), info: () => undefined },
      // Another write to the cluster moves the resourceVersion on; the Lease's stays.
      async () => {
        await applyObject(kube, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'tick', namespace: run.namespace },
          data: { at: String(Date.now()) },
        } as k8s.KubernetesObject);
        return { result: ((await rawRequest(kube, leaseOf(run))).body as Lease).metadata!.resourceVersion, state: 'read' };
      },
      { expected: 'the Lease read', next: '' },
    );
    expect(later).toBe(stopped);
  });
});

describe('preflight', () => {
  it('takes a run without a renewed Lease for a leftover and leaves a live run alone; cleanup deletes the Lease last', async () => {
    const { run: live } = await hold(existing());
    // A crashed run: its namespace and a Lease nobody renews (a 1 s duration, so the test need not wait out 20 s).
    const goneConfig = existing();
    const gone = newRunState(goneConfig);
    made.push(gone.namespace);
    await holdRunLease(kube, goneConfig, gone);
    const stale = { ...runLease(gone, 'default', new Date()), spec: { ...runLease(gone, 'default', new Date()).spec, leaseDurationSeconds: 1 } };
    await rawRequest(kube, leaseOf(gone), { method: 'DELETE' });
    const posted = await rawRequest(kube, leasesIn('default'), { method: 'POST', body: { text: JSON.stringify(stale), contentType: 'application/json' } });
    expect(posted.status, posted.text).toBe(201);
    await probeUntil(
      { signal: AbortSignal.timeout(10_000), info: () => undefined },
      async () => {
        const { leases, serverNow } = await leasesNow();
        return liveRuns(leases, RUN_LABEL_KEY, serverNow).has(gone.runId) ? { state: 'still live' } : { result: true, state: 'stale' };
      },
      { expected: "the crashed run's Lease stale on the server clock", next: '' },
    );

    const r = await runStages([preflightStage], existing());
    const pre = r.records[0]!;
    expect(pre.status, pre.message).toBe('pass');
    const leftovers = pre.evidence.find((e) => e.title === 'Leftovers of earlier runs')?.output ?? '';
    expect(leftovers).toContain(`namespace/${gone.namespace}`);
    expect(leftovers).toContain(`lease/default/${gone.namespace}`);
    expect(leftovers).not.toContain(live.namespace);
    // Preflight changes nothing: no namespace or Lease of its own yet.
    expect(r.run.namespaceCreatedAt).toBeUndefined();
    expect(r.run.leaseNamespace).toBeUndefined();
    expect((await rawRequest(kube, leaseOf(r.run))).status).toBe(404);

    // cleanup-stale: the crashed run's namespace and Lease go; the live run's stay.
    const swept = await runStages([preflightStage], existing({ 'cleanup-stale': 'true' }));
    expect(swept.records[0]!.message).toMatch(/\d+ leftover\(s\) of earlier runs deleted/);
    expect((await rawRequest(kube, leaseOf(gone))).status).toBe(404);
    expect((await rawRequest(kube, leaseOf(live))).status).toBe(200);

    // The live run's cleanup: its namespace goes, then its Lease.
    const c = await runStages([cleanupStage], { ...existing(), runId: live.runId, stages: ['cleanup'] }, { run: live });
    expect(c.records[0]!.status, c.records[0]!.message).toBe('pass');
    const said = c.records[0]!.message;
    expect(said).toContain(`namespace ${live.namespace} deleted`);
    expect(said.indexOf(`Lease default/${live.namespace} deleted`)).toBeGreaterThan(said.indexOf(`namespace ${live.namespace} deleted`));
    expect((await rawRequest(kube, leaseOf(live))).status).toBe(404);
  });

  it('finds the do-not-disrupt pins of an n-plus-one run that died before its cleanup, and takes them off with cleanup-stale', async () => {
    // Two nodes outside any NodePool: one the dead run pinned, one pinned by hand before it.
    const names = ['gac-pinned-by-run', 'gac-pinned-by-hand'];
    const node = (name: string, annotations: Record<string, string> = {}) =>
      ({ apiVersion: 'v1', kind: 'Node', metadata: { name, annotations } }) as k8s.V1Node;
    await kube.core.createNode({ body: node(names[0]!) });
    await kube.core.createNode({ body: node(names[1]!, { [DO_NOT_DISRUPT]: 'true' }) });
    try {
      const dead = newRunState(existing());
      const pins = await pinNodes(kube, dead, names, () => undefined);
      expect(pins.pinned).toEqual([names[0]]);
      expect(dead.pinnedNodes).toEqual([names[0]]);
      // The run dies here: no cleanup, no post, no Lease.
      const reported = await runStages([preflightStage], existing());
      const leftovers = reported.records[0]!.evidence.find((e) => e.title === 'Leftovers of earlier runs')?.output ?? '';
      expect(leftovers).toContain(`node/${names[0]} (${DO_NOT_DISRUPT} of run ${dead.runId})`);
      expect(leftovers).not.toContain(names[1]);
      expect((await kube.core.readNode({ name: names[0]! })).metadata?.annotations?.[DO_NOT_DISRUPT]).toBe('true');

      const swept = await runStages([preflightStage], existing({ 'cleanup-stale': 'true' }));
      expect(swept.records[0]!.status, swept.records[0]!.message).toBe('pass');
      const unpinned = await kube.core.readNode({ name: names[0]! });
      expect(unpinned.metadata?.annotations?.[DO_NOT_DISRUPT]).toBeUndefined();
      expect(unpinned.metadata?.labels?.[PINNED_BY_LABEL]).toBeUndefined();
      // The pin that was there before the run is not the run's: left as found.
      expect((await kube.core.readNode({ name: names[1]! })).metadata?.annotations?.[DO_NOT_DISRUPT]).toBe('true');
    } finally {
      for (const name of names) await kube.core.deleteNode({ name }).catch(() => undefined);
    }
  });

  it('fails before anything changes when the lease namespace does not exist, naming the input', async () => {
    const r = await runStages([preflightStage], existing({ 'lease-namespace': 'no-such-namespace' }));
    expect(r.records[0]!.status).toBe('fail');
    expect(r.records[0]!.message).toContain('Expected namespace no-such-namespace (input lease-namespace)');
    expect(createdNothing(r.run)).toBe(true);
  });
});

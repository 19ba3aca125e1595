// watchUntil against the bed's real apiserver: returns the moment the condition holds, relists
// after a forced 410 Gone, resumes after the connection is cut (through a loopback TCP proxy
// whose sockets the test destroys), and ends with the awaited thing and the last state on abort.
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Kube } from '../../src/kube/client.js';
import { watchUntil, WatchAbortedError } from '../../src/kube/watch.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { deleteNamespaces } from '../support/cluster.js';

let bed: Bed;
let kube: Kube;
let ns: string;
const cmPath = () => `/api/v1/namespaces/${ns}/configmaps`;
const createCm = (name: string) => kube.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { a: 'b' } } });

beforeAll(async () => {
  bed = loadBed();
  kube = connect({ kubeconfig: bed.kubeconfig });
  ns = `watch-${randomBytes(3).toString('hex')}`;
  await kube.core.createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  if (!kube) return;
  await deleteNamespaces(kube, [ns]);
  const left = await kube.core.listNamespace({ fieldSelector: `metadata.name=${ns}` });
  expect(left.items).toHaveLength(0);
});

describe('watchUntil', () => {
  it('returns on the event that makes the condition hold, with its receipt time', async () => {
    const logs: string[] = [];
    const waiting = watchUntil<k8s.V1ConfigMap, { type: string; at: Date }>(kube, {
      path: cmPath(),
      signal: AbortSignal.timeout(60_000),
      describe: 'configmap first',
      log: (m) => logs.push(m),
      until: (items, ev) => (items.has(`${ns}/first`) ? { type: ev?.type ?? 'LIST', at: ev?.receivedAt ?? new Date() } : undefined),
    });
    await createCm('first');
    const r = await waiting;
    // ADDED when the watch was up before the create, LIST when the list already had it
    expect(['ADDED', 'LIST']).toContain(r.type);
  });

  it('relists after 410 Gone when resuming from an expired resourceVersion', async () => {
    // A CRD made now has a watch cache that starts now: resourceVersion 1 is older than its
    // window, so the apiserver answers the watch with ERROR 410 Expired.
    const group = `${ns}.watch.gac.test`;
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `probes.${group}` },
      spec: {
        group,
        scope: 'Cluster',
        names: { plural: 'probes', singular: 'probe', kind: 'Probe' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    };
    await kube.apiext.createCustomResourceDefinition({ body: crd });
    try {
      await watchUntil<k8s.V1CustomResourceDefinition & k8s.KubernetesObject, true>(kube, {
        path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
        fieldSelector: `metadata.name=probes.${group}`,
        signal: AbortSignal.timeout(60_000),
        describe: 'probe CRD Established',
        until: (items) =>
          (items.get(`probes.${group}`)?.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined,
      });
      await kube.custom.createClusterCustomObject({
        group,
        version: 'v1',
        plural: 'probes',
        body: { apiVersion: `${group}/v1`, kind: 'Probe', metadata: { name: 'after-gone' } },
      });
      const logs: string[] = [];
      const found = await watchUntil<k8s.KubernetesObject, string>(kube, {
        path: `/apis/${group}/v1/probes`,
        resourceVersion: '1',
        signal: AbortSignal.timeout(60_000),
        describe: 'probe after-gone',
        log: (m) => logs.push(m),
        until: (items) => (items.has('after-gone') ? 'seen' : undefined),
      });
      expect(found).toBe('seen');
      expect(logs.join('\n')).toMatch(/resourceVersion 1 expired \(410 Gone\); relisting/);
    } finally {
      await kube.apiext.deleteCustomResourceDefinition({ name: `probes.${group}` });
      await watchUntil<k8s.KubernetesObject, true>(kube, {
        path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
        fieldSelector: `metadata.name=probes.${group}`,
        signal: AbortSignal.timeout(60_000),
        describe: 'probe CRD gone',
        until: (items) => (items.size === 0 ? true : undefined),
      });
    }
  });

  it('resumes from the last resourceVersion when the connection drops', async () => {
    const proxy = await apiProxy();
    try {
      const logs: string[] = [];
      let listed!: () => void;
      let live!: () => void;
      const watchListed = new Promise<void>((res) => (listed = res));
      const watchLive = new Promise<void>((res) => (live = res));
      const waiting = watchUntil<k8s.V1ConfigMap, string>(proxy.kube, {
        path: cmPath(),
        signal: AbortSignal.timeout(90_000),
        describe: 'configmap after-drop',
        log: (m) => logs.push(m),
        until: (items, ev) => {
          // No event: the list was evaluated. An event for "probe" (made after the list) came through the watch connection.
          if (!ev) listed();
          if (ev?.object.metadata?.name === 'probe') live();
          return items.has(`${ns}/after-drop`) ? 'seen' : undefined;
        },
      });
      await watchListed;
      await createCm('probe');
      await watchLive;
      proxy.cut();
      await createCm('after-drop');
      expect(await waiting).toBe('seen');
      expect(logs.join('\n')).toMatch(/resuming from resourceVersion \d+/);
    } finally {
      await proxy.close();
    }
  });

  it('says when its view is stale: not current while the API refuses connections, current again once an event comes through', async () => {
    const proxy = await apiProxy();
    try {
      const told: boolean[] = [];
      const waiters: [boolean, () => void][] = [];
      const toldNow = (value: boolean) => new Promise<void>((res) => waiters.push([value, res]));
      const firstList = toldNow(true);
      const waiting = watchUntil<k8s.V1ConfigMap, string>(proxy.kube, {
        path: cmPath(),
        signal: AbortSignal.timeout(90_000),
        describe: 'configmap after-outage',
        log: () => undefined,
        onCurrent: (current) => {
          told.push(current);
          for (const [value, res] of waiters) if (value === current) res();
        },
        until: (items) => (items.has(`${ns}/after-outage`) ? 'seen' : undefined),
      });
      await firstList;
      const stale = toldNow(false);
      await proxy.down();
      await stale;
      const back = toldNow(true);
      await proxy.up();
      await createCm('during-recovery');
      await back;
      await createCm('after-outage');
      expect(await waiting).toBe('seen');
      expect(told).toEqual([true, false, true]);
    } finally {
      await proxy.close();
    }
  });

  it('rejects on abort naming what it waited for and the last state', async () => {
    const controller = new AbortController();
    const waiting = watchUntil<k8s.V1ConfigMap, true>(kube, {
      path: cmPath(),
      signal: controller.signal,
      describe: 'a configmap that never comes',
      state: (items) => `${items.size} configmap(s)`,
      log: () => undefined,
      until: (items) => (items.has(`${ns}/never`) ? true : undefined),
    });
    // Abort once the wait is underway (its list answered): a create is observed, then abort.
    await createCm('marker');
    controller.abort(new DOMException('stage timeout', 'TimeoutError'));
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchAbortedError);
    expect((err as Error).message).toMatch(/^a configmap that never comes: not reached before the stage timeout; last seen: \d+ configmap\(s\)/);
  });
});

/**
 * A loopback TCP proxy in front of the bed's apiserver, and clients through it: `cut` destroys
 * the connections (a dropped watch); `down` also stops accepting (connections refused, as when
 * the apiserver is gone) until `up` listens again on the same port.
 */
async function apiProxy(): Promise<{ kube: Kube; cut: () => void; down: () => Promise<void>; up: () => Promise<void>; close: () => Promise<void> }> {
  const target = new URL(bed.apiserver);
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  const listen = (port: number) => new Promise<void>((res) => proxy.listen(port, '127.0.0.1', res));
  await listen(0);
  const port = (proxy.address() as net.AddressInfo).port;
  const cut = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  const stop = () => new Promise<void>((res) => (proxy.listening ? proxy.close(() => res()) : res()));
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(bed.kubeconfig);
  const cluster = kc.getCurrentCluster()!;
  kc.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: `https://127.0.0.1:${port}` } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  const down = async () => {
    const stopped = stop();
    cut();
    await stopped;
  };
  return { kube: { kc } as Kube, cut, down, up: () => listen(port), close: down };
}

// The test bed itself, against the running bed (testbed/up): a real control plane with RBAC, KWOK
// nodes that become Ready and run GPU pods, and the GPU metric pipeline (DCGM stand-in ->
// Prometheus -> prometheus-adapter -> external.metrics.k8s.io -> HPA). Waits are watches, or
// probes for the aggregated API that cannot be watched; every test deletes what it made.
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQuantity } from '../../src/checks/quantity.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { getJson, rawRequest } from '../../src/kube/raw.js';
import { probeUntil } from '../../src/stages/wait.js';
import { watchUntil } from '../../src/kube/watch.js';
import { addComponent, bin, loadBed, removeComponent, setGpuMetrics, startComponent, stopComponent, type Bed } from '../../testbed/lib/bed.js';
import { isAlive } from '../../testbed/lib/proc.js';
import { IDLE } from '../../testbed/dcgm-exporter.js';
import { deleteNamespaces } from '../support/cluster.js';

const METRIC = 'dcgm_gpu_power_usage';
const METRIC_PATH = `/apis/external.metrics.k8s.io/v1beta1/namespaces/default/${METRIC}`;
const suffix = () => randomBytes(3).toString('hex');
const log = (m: string) => console.log(m);

/** A port nothing listens on now (the kernel's pick), so beds side by side do not collide. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });

let bed: Bed;
let kube: Kube;

beforeAll(() => {
  bed = loadBed();
  kube = connect({ kubeconfig: bed.kubeconfig });
});

/** A namespace for one test; deleted afterwards, and its removal awaited (the namespace controller and GC must work). */
async function withNamespace<T>(prefix: string, body: (ns: string) => Promise<T>): Promise<T> {
  const ns = `${prefix}-${suffix()}`;
  await kube.core.createNamespace({ body: { metadata: { name: ns } } });
  try {
    return await body(ns);
  } finally {
    await deleteNamespaces(kube, [ns]);
  }
}

const externalMetricValue = async (): Promise<number> => {
  const list = await getJson<{ items: { value: string }[] }>(kube, METRIC_PATH);
  const v = parseQuantity(list.items[0]?.value);
  if (v === undefined) throw new Error(`no value in ${JSON.stringify(list)}`);
  return v;
};

/** Re-asks the external metrics API until `holds(value)`; it cannot be watched. */
const metricUntil = (expected: string, holds: (v: number) => boolean, timeoutMs = 240_000) =>
  probeUntil(
    { signal: AbortSignal.timeout(timeoutMs), info: log },
    async () => {
      const v = await externalMetricValue();
      return { result: holds(v) ? v : undefined, state: `${METRIC}=${v}` };
    },
    { expected, next: `check ${bed.dir}/logs/prometheus-adapter.log` },
  );

describe('test bed', () => {
  it('serves the Kubernetes API with RBAC enforced', async () => {
    const version = await kube.version.getCode();
    expect(`v${version.major}.${version.minor}`).toBe(bed.versions.KUBERNETES_VERSION.replace(/\.\d+$/, ''));
    await withNamespace('bed-rbac', async (ns) => {
      // a fresh ServiceAccount has no grants: RBAC must deny it what the admin may do
      const name = 'nobody';
      await kube.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
      const { status } = await kube.core.createNamespacedServiceAccountToken({
        name,
        namespace: ns,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      });
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'bed', server: bed.apiserver, caFile: bed.ca }],
        users: [{ name, token: status!.token }],
        contexts: [{ name: 'bed', cluster: 'bed', user: name }],
        currentContext: 'bed',
      });
      const nobody = { ...kube, kc };
      const denied = await rawRequest(nobody, '/api/v1/namespaces/kube-system/secrets');
      expect(denied.status).toBe(403);
      const allowed = await rawRequest(kube, '/api/v1/namespaces/kube-system/secrets');
      expect(allowed.status).toBe(200);
      // the token is real: discovery is granted to authenticated users only, not to anonymous ones
      const review = await rawRequest(nobody, '/apis/authentication.k8s.io/v1');
      expect(review.status).toBe(200);
    });
  });

  it('makes a KWOK GPU node Ready and runs a one-GPU pod on it', async () => {
    const node = `bed-gpu-${suffix()}`;
    // shaped like the nodes Karpenter's KWOK provider creates: the annotation kwok manages, a taint
    await kube.core.createNode({
      body: {
        metadata: {
          name: node,
          annotations: { 'kwok.x-k8s.io/node': 'fake' },
          labels: { 'kubernetes.io/hostname': node, type: 'kwok', 'gac-bed/test-node': node },
        },
        spec: { taints: [{ key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' }] },
        status: {
          capacity: { cpu: '32', memory: '256Gi', pods: '110', 'nvidia.com/gpu': '8' },
          allocatable: { cpu: '32', memory: '256Gi', pods: '110', 'nvidia.com/gpu': '8' },
        },
      },
    });
    try {
      const ready = await watchUntil<k8s.V1Node, k8s.V1Node>(kube, {
        path: '/api/v1/nodes',
        fieldSelector: `metadata.name=${node}`,
        signal: AbortSignal.timeout(120_000),
        describe: `node ${node} Ready`,
        until: (items) => {
          const n = items.get(node);
          return n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? n : undefined;
        },
        log,
      });
      expect(ready.status?.allocatable?.['nvidia.com/gpu']).toBe('8');

      await withNamespace('bed-kwok', async (ns) => {
        await kube.core.createNamespacedPod({
          namespace: ns,
          body: {
            metadata: { name: 'gpu' },
            spec: {
              nodeSelector: { 'gac-bed/test-node': node },
              tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
              containers: [{ name: 'c', image: 'registry.invalid/cuda:none', resources: { limits: { 'nvidia.com/gpu': '1' } } }],
            },
          },
        });
        const pod = await watchUntil<k8s.V1Pod, k8s.V1Pod>(kube, {
          path: `/api/v1/namespaces/${ns}/pods`,
          signal: AbortSignal.timeout(120_000),
          describe: 'pod gpu Running',
          until: (items) => {
            const p = items.get(`${ns}/gpu`);
            return p?.status?.phase === 'Running' ? p : undefined;
          },
          log,
        });
        expect(pod.spec?.nodeName).toBe(node);
      });
    } finally {
      await kube.core.deleteNode({ name: node });
    }
  });

  it('stops and starts components for fault tests, keeping bed.json accurate', async () => {
    await stopComponent(bed, 'prometheus-adapter');
    expect(loadBed().components['prometheus-adapter'].pid).toBe(0);
    // the aggregator cannot reach the adapter: the metric API fails rather than answering stale data
    expect((await rawRequest(kube, METRIC_PATH)).status).toBe(503);
    await startComponent(bed, 'prometheus-adapter');
    expect(loadBed().components['prometheus-adapter'].pid).toBe(bed.components['prometheus-adapter'].pid);
    await metricUntil(`${METRIC} served again`, () => true, 120_000);

    const before = bed.components['kube-apiserver'].pid;
    await stopComponent(bed, 'kube-apiserver');
    expect((await rawRequest(kube, '/version').catch(() => ({ status: 0 }))).status).toBe(0);
    // A typed call made while the apiserver is down is answered once it is back (the action's
    // one-shot requests ask again through a restart: src/kube/transient.ts). A new client: this
    // one has just given up on the API above, so it would ask once (by design).
    const listed = connect({ kubeconfig: bed.kubeconfig })
      .core.listNamespace()
      .then(
        (l) => l.items.map((n) => n.metadata?.name),
        (e: unknown) => e as Error,
      );
    await startComponent(bed, 'kube-apiserver');
    expect(await listed).toContain('default');
    expect(bed.components['kube-apiserver'].pid).not.toBe(before);
    expect((await kube.version.getCode()).gitVersion).toBe(bed.versions.KUBERNETES_VERSION);
  });

  it('runs a process of the caller as a bed component that down would end', async () => {
    const port = await freePort();
    const c = await addComponent(bed, 'extra-exporter', {
      cmd: [bin(bed, 'node'), bed.components['dcgm-exporter'].cmd[1], `--port=${port}`],
      port,
      ready: { url: `http://127.0.0.1:${port}/healthz` },
    });
    try {
      expect(loadBed().components['extra-exporter']).toMatchObject({ pid: c.pid, port, log: `${bed.dir}/logs/extra-exporter.log` });
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    } finally {
      await removeComponent(bed, 'extra-exporter');
    }
    expect(isAlive(c.pid)).toBe(false);
    expect(loadBed().components['extra-exporter']).toBeUndefined();
  });

  describe('GPU metric pipeline', () => {
    beforeAll(async () => {
      await setGpuMetrics(bed, { power: IDLE.power, util: IDLE.util, fbUsed: IDLE.fbUsed });
    });
    afterAll(async () => {
      await setGpuMetrics(bed, { power: IDLE.power, util: IDLE.util, fbUsed: IDLE.fbUsed });
    });

    it('serves the stand-in exporter power reading as external metric dcgm_gpu_power_usage and follows it', async () => {
      // at rest (2 min of idle readings in the window) the metric is the idle draw itself
      const idle = await metricUntil(`${METRIC} = ${IDLE.power}`, (v) => Math.abs(v - IDLE.power) < 0.01);
      expect(idle).toBeCloseTo(IDLE.power, 2);
      await setGpuMetrics(bed, { power: 300 });
      // avg_over_time over 2m: the metric climbs towards 300 as new samples enter the window
      const risen = await metricUntil(`${METRIC} rising above ${IDLE.power + 20}`, (v) => v > IDLE.power + 20);
      expect(risen).toBeGreaterThan(IDLE.power + 20);
      expect(risen).toBeLessThanOrEqual(300);
    });

    it('lets an HPA scale a Deployment on dcgm_gpu_power_usage', async () => {
      await withNamespace('bed-hpa', async (ns) => {
        const labels = { app: 'gpu-inference' };
        await kube.apps.createNamespacedDeployment({
          namespace: ns,
          body: {
            metadata: { name: 'inference', labels },
            spec: {
              replicas: 1,
              selector: { matchLabels: labels },
              template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'registry.invalid/inference:none' }] } },
            },
          },
        });
        await kube.autoscaling.createNamespacedHorizontalPodAutoscaler({
          namespace: ns,
          body: {
            metadata: { name: 'inference' },
            spec: {
              scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'inference' },
              minReplicas: 1,
              maxReplicas: 4,
              // ~46 W idle against a 10 W per-replica target: the HPA wants ceil(46/10) = 5, capped at 4
              metrics: [{ type: 'External', external: { metric: { name: METRIC }, target: { type: 'AverageValue', averageValue: '10' } } }],
            },
          },
        });
        const hpa = await watchUntil<k8s.V2HorizontalPodAutoscaler, k8s.V2HorizontalPodAutoscaler>(kube, {
          path: `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`,
          signal: AbortSignal.timeout(180_000),
          describe: 'HPA ScalingActive with desiredReplicas > 1',
          // The HPA's first status after scaling can be computed over 0 current replicas (the
          // Deployment's status not yet updated), which reads as min int64: wait for a real reading.
          until: (items) => {
            const h = items.get(`${ns}/inference`);
            const active = h?.status?.conditions?.some((c) => c.type === 'ScalingActive' && c.status === 'True');
            const read = parseQuantity(h?.status?.currentMetrics?.[0]?.external?.current.averageValue);
            return active && (h?.status?.desiredReplicas ?? 0) > 1 && read !== undefined && read > 0 ? h : undefined;
          },
          state: (items) => JSON.stringify(items.get(`${ns}/inference`)?.status ?? {}),
          log,
        });
        expect(hpa.status?.desiredReplicas).toBe(4);
        const read = hpa.status?.currentMetrics?.[0]?.external?.current.averageValue;
        expect(parseQuantity(read)).toBeGreaterThan(10);
      });
    });
  });
});

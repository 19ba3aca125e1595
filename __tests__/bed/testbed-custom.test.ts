// Per-pod custom metrics: a GPU the stand-in attributes to a pod (as dcgm-exporter's Kubernetes
// mapping does) shows up as custom.metrics.k8s.io gpu_utilization / gpu_power_usage of that pod.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseQuantity } from '../../src/checks/quantity.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { getJson } from '../../src/kube/raw.js';
import { probeUntil } from '../../src/stages/wait.js';
import { loadBed, setGpuMetrics, type Bed } from '../../testbed/lib/bed.js';
import { IDLE } from '../../testbed/dcgm-exporter.js';
import { deleteNamespaces } from '../support/cluster.js';

const log = (m: string) => console.log(m);
const ns = `bed-custom-${randomBytes(3).toString('hex')}`;
const pod = 'trainer';
let bed: Bed;
let kube: Kube;

beforeAll(async () => {
  bed = loadBed();
  kube = connect({ kubeconfig: bed.kubeconfig });
  await kube.core.createNamespace({ body: { metadata: { name: ns } } });
  // the pod the GPU is attributed to exists (Pending is enough: the adapter maps series to pod objects)
  await kube.core.createNamespacedPod({
    namespace: ns,
    body: { metadata: { name: pod }, spec: { containers: [{ name: 'c', image: 'registry.invalid/x:none' }] } },
  });
});

afterAll(async () => {
  await setGpuMetrics(bed, { gpu: 0, namespace: '', pod: '', container: '', util: IDLE.util, power: IDLE.power });
  await deleteNamespaces(kube, [ns]);
});

it('serves per-pod gpu_utilization and gpu_power_usage for a GPU attributed to a pod', async () => {
  await setGpuMetrics(bed, { gpu: 0, namespace: ns, pod, container: 'c', util: 80, power: 250 });
  const value = (metric: string) =>
    probeUntil(
      { signal: AbortSignal.timeout(180_000), info: log },
      async () => {
        // the adapter registers the metric at its next relist (15 s) after the series appears
        const list = await getJson<{ items: { describedObject: { name: string }; value: string }[] }>(
          kube,
          `/apis/custom.metrics.k8s.io/v1beta1/namespaces/${ns}/pods/*/${metric}`,
        );
        const item = list.items.find((i) => i.describedObject.name === pod);
        return { result: item ? parseQuantity(item.value) : undefined, state: JSON.stringify(list.items) };
      },
      { expected: `custom metric ${metric} for pod ${ns}/${pod}`, next: `check ${bed.dir}/logs/prometheus-adapter.log` },
    );
  // the attributed series is new, so its 2 m average is the set value from the first sample
  expect(await value('gpu_utilization')).toBe(80);
  expect(await value('gpu_power_usage')).toBe(250);
});

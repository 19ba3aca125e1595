// The kind cluster as tests see it (what testbed/kind/up recorded in cluster.json), and the GPU
// metric chain made reachable from it: a prometheus-adapter process on the kind network's gateway
// address, reading the bed's Prometheus (fed by the DCGM stand-in), registered in the kind
// cluster as the external metrics API. The cluster is real; a test that cannot have it fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { isTrue, type WithConditions } from '../../src/checks/conditions.js';
import { applyObject, deleteObject } from '../../src/kube/apply.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { watchUntil } from '../../src/kube/watch.js';
import { freePort } from '../../src/tools/karpenter-process.js';
import { bin, REPO_ROOT, type Bed } from '../../testbed/lib/bed.js';

export interface KindCluster {
  name: string;
  kubeconfig: string;
  server: string;
  nodeContainer: string;
  networkGateway: string;
  /** kind and the docker wrapper this machine needs (testbed/kind/README.md): first on the action's PATH. */
  binDir: string;
  /** ko's base image, read from the docker daemon (users keep ko's default). */
  koBaseImageLocal: string;
  kwokImage: string;
}

export function kindDir(): string {
  return process.env.KIND_BED_DIR ?? join(REPO_ROOT, '.bed-kind');
}

/** The running kind cluster; throws (the test fails, never skips) when testbed/kind/up has not made one. */
export function loadKind(): KindCluster {
  const file = join(kindDir(), 'cluster.json');
  if (!existsSync(file)) throw new Error(`no kind cluster: ${file} is missing. Start it with testbed/kind/up (scripts/test.sh does)`);
  return JSON.parse(readFileSync(file, 'utf8')) as KindCluster;
}

/** The environment the action needs on this machine to reach the kind cluster: PATH, ko's base. */
export function kindEnv(kind: KindCluster): Record<string, string> {
  return {
    PATH: `${kind.binDir}:${process.env.PATH}`,
    KUBECONFIG: kind.kubeconfig,
    KO_DEFAULTBASEIMAGE: kind.koBaseImageLocal,
  };
}

export interface KindMetrics {
  adapterPid: number;
  stop(): Promise<void>;
}

const APISERVICE = 'v1beta1.external.metrics.k8s.io';

/**
 * Starts prometheus-adapter for the kind cluster and registers it: a selector-less Service whose
 * Endpoints hold the gateway address (the kind apiserver reaches the host there), and the
 * external metrics APIService. Resolves once the APIService is Available.
 */
export async function startKindMetrics(bed: Bed, kind: KindCluster): Promise<KindMetrics> {
  const kube = connect({ kubeconfig: kind.kubeconfig });
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gac-kind-adapter-'));
  const log = openSync(join(dir, 'adapter.log'), 'a');
  const child: ChildProcess = spawn(
    bin(bed, 'prometheus-adapter'),
    [
      `--lister-kubeconfig=${kind.kubeconfig}`,
      `--authentication-kubeconfig=${kind.kubeconfig}`,
      `--authorization-kubeconfig=${kind.kubeconfig}`,
      `--bind-address=${kind.networkGateway}`,
      `--secure-port=${port}`,
      `--cert-dir=${dir}`,
      `--prometheus-url=${bed.prometheusUrl}/`,
      `--config=${join(REPO_ROOT, 'testbed', 'prometheus-adapter.yaml')}`,
      '--metrics-relist-interval=15s',
      '--v=1',
    ],
    { stdio: ['ignore', log, log] },
  );
  const objects = registration(kind.networkGateway, port);
  const stop = async () => {
    for (const o of [...objects].reverse()) await deleteObject(kube, o as never).catch(() => undefined);
    // Gone before the next file registers the adapter again (a terminating namespace refuses new objects).
    await watchUntil<k8s.V1Namespace, true>(kube, {
      path: '/api/v1/namespaces',
      fieldSelector: 'metadata.name=gac-metrics',
      describe: 'namespace gac-metrics gone',
      signal: AbortSignal.timeout(120_000),
      until: (items) => (items.size === 0 ? true : undefined),
    }).catch(() => undefined);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  };
  try {
    for (const o of objects) await applyObject(kube, o as k8s.KubernetesObject, { fieldManager: 'gac-test' });
    await availableApiService(kube, child, dir);
  } catch (e) {
    await stop();
    throw e;
  }
  return { adapterPid: child.pid!, stop };
}

function registration(gateway: string, port: number): object[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gac-metrics' } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'prometheus-adapter', namespace: 'gac-metrics' },
      spec: { ports: [{ name: 'https', port: 443, targetPort: port }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'prometheus-adapter', namespace: 'gac-metrics' },
      subsets: [{ addresses: [{ ip: gateway }], ports: [{ name: 'https', port }] }],
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: APISERVICE },
      spec: {
        group: 'external.metrics.k8s.io',
        version: 'v1beta1',
        service: { name: 'prometheus-adapter', namespace: 'gac-metrics', port: 443 },
        // The adapter's self-signed serving certificate, made at start: a test cluster only.
        insecureSkipTLSVerify: true,
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    },
  ];
}

async function availableApiService(kube: Kube, child: ChildProcess, dir: string): Promise<void> {
  const exited = new AbortController();
  child.once('exit', (code) =>
    exited.abort(new Error(`prometheus-adapter exited with ${code}: ${readFileSync(join(dir, 'adapter.log'), 'utf8').slice(-2000)}`)),
  );
  await watchUntil<k8s.V1APIService & k8s.KubernetesObject, true>(kube, {
    path: '/apis/apiregistration.k8s.io/v1/apiservices',
    fieldSelector: `metadata.name=${APISERVICE}`,
    describe: `${APISERVICE} Available`,
    signal: AbortSignal.any([exited.signal, AbortSignal.timeout(180_000)]),
    until: (items) => (isTrue(items.get(APISERVICE) as WithConditions, 'Available') ? true : undefined),
    state: (items) => JSON.stringify((items.get(APISERVICE) as { status?: { conditions?: unknown } } | undefined)?.status?.conditions ?? []),
  });
}

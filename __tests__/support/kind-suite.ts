// One kind-cluster test file's setup: the bed (its metric pipeline), the kind cluster, the
// adapter that serves it the GPU metric, the loopback tool and chart sources, the artifact
// stand-in; a snapshot of what a run may leave behind; and a run of the bundle (main, then post)
// with the inputs examples/inference.yml uses.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll } from 'vitest';
import type { Results } from '../../src/evidence/model.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { makeRunnerDirs, runAction, type ActionResult, type ActionRun } from './harness.js';
import { kindEnv, loadKind, startKindMetrics, type KindCluster, type KindMetrics } from './kind.js';
import { kindToolSources, type KindToolSources } from './kind-tools.js';
import { wideSnapshot, type WideSnapshot } from './leaks.js';
import { startResultsService, type ResultsService } from './results-service.js';

export type KindSnapshot = WideSnapshot & { deployments: string[]; configMaps: string[]; helmSecrets: string[] };

/** What a run may leave behind on the kind cluster: the wide snapshot plus workloads, kube-system's ConfigMaps and Helm's release records. */
export async function kindSnapshot(k: Kube): Promise<KindSnapshot> {
  const names = (items: k8s.KubernetesObject[]) => items.map((o) => `${o.metadata!.namespace}/${o.metadata!.name}`).sort();
  return {
    ...(await wideSnapshot(k)),
    deployments: names((await k.apps.listDeploymentForAllNamespaces()).items),
    configMaps: names((await k.core.listNamespacedConfigMap({ namespace: 'kube-system' })).items),
    helmSecrets: names((await k.core.listSecretForAllNamespaces({ labelSelector: 'owner=helm' })).items),
  };
}

export interface KindSuite {
  bed: Bed;
  kind: KindCluster;
  kube: Kube;
  sources: KindToolSources;
  /** The artifact stand-in the runs upload their evidence to. */
  results: ResultsService;
  /** The cluster as the file found it. */
  before: KindSnapshot;
  /** The runner's view of a kind-mode run with these inputs (over the defaults), not started. */
  action(inputs: Record<string, string>, env?: Record<string, string>): { run: ActionRun; evidenceDir: string };
  /** main then post; results.json read back, each stage's figures printed. */
  run(inputs: Record<string, string>, env?: Record<string, string>): Promise<ActionResult & { results: Results; evidenceDir: string }>;
}

/** Registers the file's beforeAll/afterAll; the returned suite is usable inside tests. */
export function kindSuite(opts: { helm?: (bed: Bed) => { version: string; binary: string } } = {}): KindSuite {
  let metrics: KindMetrics | undefined;
  let service: ResultsService | undefined;
  const suite = {} as KindSuite;

  beforeAll(async () => {
    suite.bed = loadBed();
    suite.kind = loadKind();
    suite.kube = connect({ kubeconfig: suite.kind.kubeconfig });
    service = await startResultsService();
    suite.results = service;
    metrics = await startKindMetrics(suite.bed, suite.kind);
    suite.sources = await kindToolSources(suite.bed, opts.helm?.(suite.bed));
    suite.before = await kindSnapshot(suite.kube);
  });
  afterAll(async () => {
    await metrics?.stop();
    await suite.sources?.close();
    await service?.close();
  });

  suite.action = (inputs, env = {}) => {
    const dirs = makeRunnerDirs();
    const evidenceDir = path.join(dirs.temp, 'evidence');
    return {
      evidenceDir,
      run: {
        inputs: {
          'karpenter-mode': 'kind',
          'cluster-name': suite.kind.name,
          scenario: 'metric',
          'metric-name': 'dcgm_gpu_power_usage',
          'evidence-dir': evidenceDir,
          ...suite.sources.inputs,
          ...inputs,
        },
        toolCache: suite.sources.toolCache,
        dirs,
        env: { ...service!.env, ...kindEnv(suite.kind), ...env },
        echo: process.env.GAC_ECHO === '1',
      },
    };
  };
  suite.run = async (inputs, env = {}) => {
    const { run, evidenceDir } = suite.action(inputs, env);
    const r = await runAction(run);
    if (r.main.code !== 0) console.log(r.main.stdout.slice(-8000));
    const results = JSON.parse(fs.readFileSync(path.join(evidenceDir, 'results.json'), 'utf8')) as Results;
    for (const s of results.stages) console.log(`[figures] kind: ${s.name} ${s.status} ${s.durationMs} ms: ${s.message.slice(0, 160)}`);
    return { ...r, results, evidenceDir };
  };
  return suite;
}

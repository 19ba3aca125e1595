// karpenter-mode kind with Helm 4 (helm-version v4.1.1, what GPU pipelines such as NVIDIA/aicr
// pin) on a real kind cluster, through the bundle as a runner runs it (main, then post): the tools
// stage installs Helm 4 from the loopback mirror in the official layout (get.helm.sh's archive and
// .sha256sum, the bed's helm4 binary inside), and Helm 4 installs the KWOK controller's charts and
// Karpenter's, then uninstalls them at cleanup. The same chain as kind-mode.test.ts's first test.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Results } from '../../src/evidence/model.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { KARPENTER_NAMESPACE } from '../../src/tools/helm.js';
import { STAGE_NAMES } from '../../src/types.js';
import { bin, loadBed, type Bed } from '../../testbed/lib/bed.js';
import { makeRunnerDirs, runAction } from '../support/harness.js';
import { kindEnv, loadKind, startKindMetrics, type KindCluster, type KindMetrics } from '../support/kind.js';
import { kindToolSources, type KindToolSources } from '../support/kind-tools.js';
import { wideSnapshot, type WideSnapshot } from '../support/leaks.js';
import { startResultsService, type ResultsService } from '../support/results-service.js';

/** The Helm 4 release GPU pipelines pin; the bed builds it as helm4 (testbed/versions.env HELM4_VERSION). */
const HELM4 = 'v4.1.1';

let bed: Bed;
let kind: KindCluster;
let kube: Kube;
let metrics: KindMetrics | undefined;
let sources: KindToolSources | undefined;
let service: ResultsService;
let before: KindSnapshot;

type KindSnapshot = WideSnapshot & { deployments: string[]; configMaps: string[]; helmSecrets: string[] };

/** What a run may leave behind on the kind cluster: the wide snapshot plus workloads, ConfigMaps and Helm's release records. */
async function kindSnapshot(k: Kube): Promise<KindSnapshot> {
  const names = (items: k8s.KubernetesObject[]) => items.map((o) => `${o.metadata!.namespace}/${o.metadata!.name}`).sort();
  return {
    ...(await wideSnapshot(k)),
    deployments: names((await k.apps.listDeploymentForAllNamespaces()).items),
    configMaps: names((await k.core.listNamespacedConfigMap({ namespace: KARPENTER_NAMESPACE })).items),
    helmSecrets: names((await k.core.listSecretForAllNamespaces({ labelSelector: 'owner=helm' })).items),
  };
}

beforeAll(async () => {
  bed = loadBed();
  kind = loadKind();
  kube = connect({ kubeconfig: kind.kubeconfig });
  service = await startResultsService();
  metrics = await startKindMetrics(bed, kind);
  sources = await kindToolSources(bed, { version: HELM4, binary: bin(bed, 'helm4') });
  before = await kindSnapshot(kube);
});

afterAll(async () => {
  await metrics?.stop();
  await sources?.close();
  await service?.close();
});

describe(`karpenter-mode kind with Helm ${HELM4} on a real kind cluster`, () => {
  it('Helm 4 is installed checksum-verified from the mirror, installs the charts, and cleanup and post leave the cluster as found', async () => {
    expect(sources!.inputs['helm-version']).toBe(HELM4);
    const dirs = makeRunnerDirs();
    const evidenceDir = path.join(dirs.temp, 'evidence');
    const r = await runAction({
      inputs: {
        'karpenter-mode': 'kind',
        'cluster-name': kind.name,
        scenario: 'metric',
        'metric-name': 'dcgm_gpu_power_usage',
        'evidence-dir': evidenceDir,
        ...sources!.inputs,
        'min-replicas': '1',
        'max-replicas': '3',
        'metric-target': '10',
        consolidation: 'require',
      },
      toolCache: sources!.toolCache,
      dirs,
      env: { ...service.env, ...kindEnv(kind) },
      echo: process.env.GAC_ECHO === '1',
    });
    if (r.main.code !== 0) console.log(r.main.stdout.slice(-8000));
    const results = JSON.parse(fs.readFileSync(path.join(evidenceDir, 'results.json'), 'utf8')) as Results;
    for (const s of results.stages) console.log(`[figures] kind helm4: ${s.name} ${s.status} ${s.durationMs} ms: ${s.message.slice(0, 160)}`);

    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    for (const name of STAGE_NAMES) expect(results.stages.find((s) => s.name === name)?.status, name).toBe('pass');

    // The Helm that ran is 4.1.1, from the mirror's official layout with its .sha256sum verified
    // (or the shared tool cache a previous run of this test filled the same way).
    expect(results.versions.helm).toBe('4.1.1');
    const tools = results.stages.find((s) => s.name === 'tools')!.evidence.find((e) => e.title === 'Tools')!.output;
    expect(tools).toMatch(
      new RegExp(
        `^helm 4\\.1\\.1: (downloaded from ${sources!.mirror.url}/helm-v4\\.1\\.1-linux-amd64\\.tar\\.gz, sha256 [0-9a-f]{64} verified|cache hit in the tool cache)`,
        'm',
      ),
    );
    // Helm 4 took every flag as given: no deprecation (e.g. a boolean --wait) and no flag error.
    expect(r.main.stdout).not.toMatch(/helm: .*(deprecated|unknown flag|invalid wait input)/i);

    // Helm 4 installed the KWOK controller and Karpenter, which really ran as a pod.
    const release = results.stages.find((s) => s.name === 'karpenter-install')!.evidence.find((e) => e.title === 'Karpenter Helm release')!.output;
    expect(release).toContain(`Ready on node ${kind.nodeContainer}`);
    expect(release).toMatch(/reconciling: .*Starting workers/);
    expect(release).toMatch(/KWOK controller: installed from /);
    expect(results.outputs.podsScheduled).toBe(3);
    expect(results.outputs.nodesProvisioned).toBeGreaterThanOrEqual(1);

    // Helm 4's uninstall (waiting, ignoring what is gone) left nothing: no release record, no workload.
    expect(r.post.code).toBe(0);
    expect(await kindSnapshot(kube)).toEqual(before);
  });
});

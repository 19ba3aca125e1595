// karpenter-mode kind on a real kind cluster, through the bundle as a runner runs it (main, then
// post): ko builds Karpenter's KWOK provider into the node, Helm installs its chart and the KWOK
// controller's, Karpenter runs as a real pod, and the GPU metric chain (DCGM stand-in ->
// Prometheus -> prometheus-adapter, reachable from the cluster) drives the HPA through
// provision, schedule and consolidation. The inputs are the ones examples/inference.yml uses,
// with the loopback stand-ins of the release host, the chart repository and ko's base image.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Results } from '../../src/evidence/model.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { KARPENTER_NAMESPACE } from '../../src/tools/helm.js';
import { STAGE_NAMES } from '../../src/types.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { runAction, makeRunnerDirs, startMain, runPost, parseCommandFile, type ActionResult } from '../support/harness.js';
import { cancelLikeRunner } from '../support/runner-state.js';
import { lineOn } from '../support/faults.js';
import { kindEnv, loadKind, startKindMetrics, type KindCluster, type KindMetrics } from '../support/kind.js';
import { kindToolSources, type KindToolSources } from '../support/kind-tools.js';
import { wideSnapshot, type WideSnapshot } from '../support/leaks.js';
import { startResultsService, type ResultsService } from '../support/results-service.js';

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
  sources = await kindToolSources(bed);
  before = await kindSnapshot(kube);
});

afterAll(async () => {
  await metrics?.stop();
  await sources?.close();
  await service?.close();
});

function actionRun(inputs: Record<string, string>, dirs = makeRunnerDirs()) {
  const evidenceDir = path.join(dirs.temp, 'evidence');
  return {
    evidenceDir,
    run: {
      inputs: {
        'karpenter-mode': 'kind',
        'cluster-name': kind.name,
        scenario: 'metric',
        'metric-name': 'dcgm_gpu_power_usage',
        'evidence-dir': evidenceDir,
        ...sources!.inputs,
        ...inputs,
      },
      toolCache: sources!.toolCache,
      dirs,
      env: { ...service.env, ...kindEnv(kind) },
      echo: process.env.GAC_ECHO === '1',
    },
  };
}

/** The newest sigs.k8s.io/karpenter on the Go module proxy when this was written (go list -m -versions). */
const NEWEST_KARPENTER = 'v1.15.0';

async function run(inputs: Record<string, string>, env: Record<string, string> = {}): Promise<ActionResult & { results: Results; evidenceDir: string }> {
  const { run: a, evidenceDir } = actionRun(inputs);
  a.env = { ...a.env, ...env };
  const r = await runAction(a);
  if (r.main.code !== 0) console.log(r.main.stdout.slice(-8000));
  const results = JSON.parse(fs.readFileSync(path.join(evidenceDir, 'results.json'), 'utf8')) as Results;
  for (const s of results.stages) console.log(`[figures] kind: ${s.name} ${s.status} ${s.durationMs} ms: ${s.message.slice(0, 160)}`);
  return { ...r, results, evidenceDir };
}

describe('karpenter-mode kind on a real kind cluster', () => {
  it('the whole chain passes with Karpenter running as a pod; cleanup and post leave the cluster as found', async () => {
    const r = await run({ 'min-replicas': '1', 'max-replicas': '3', 'metric-target': '10', consolidation: 'require' });
    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    for (const name of STAGE_NAMES) expect(r.results.stages.find((s) => s.name === name)?.status, name).toBe('pass');
    expect(r.results.outputs.podsScheduled).toBe(3);
    // Karpenter really ran: its pod was Ready on the kind node and its controllers started.
    const install = r.results.stages.find((s) => s.name === 'karpenter-install')!;
    const release = install.evidence.find((e) => e.title === 'Karpenter Helm release')!.output;
    expect(release).toContain(`Ready on node ${kind.nodeContainer}`);
    expect(release).toMatch(/reconciling: .*Starting workers/);
    expect(release).toContain('feature gates: staticCapacity=false');
    expect(release).toMatch(/KWOK controller: installed from /);
    // The nodes came from Karpenter in the pod: NodeClaims of this run's NodePool, GPU capacity.
    expect(r.results.outputs.nodesProvisioned).toBeGreaterThanOrEqual(1);
    expect(r.post.code).toBe(0);
    expect(await kindSnapshot(kube)).toEqual(before);
  });

  it('a chart value that makes Karpenter crash fails karpenter-install at once, with its log and restarts in the evidence', async () => {
    const values = path.join(makeRunnerDirs().temp, 'values.yaml');
    fs.writeFileSync(values, 'settings:\n  preferencePolicy: Sometimes\n');
    const r = await run({ 'karpenter-values': values, 'max-replicas': '2' });
    expect(r.main.code).toBe(1);
    expect(r.outputs['failed-stage']).toBe('karpenter-install');
    const install = r.results.stages.find((s) => s.name === 'karpenter-install')!;
    expect(install.message).toMatch(/^Expected Karpenter's pod to run; container controller of pod \S+ exited with code \d+/);
    const diagnostics = install.diagnostics.map((d) => `${d.title}\n${d.output}`).join('\n');
    expect(diagnostics).toContain('invalid PREFERENCE_POLICY "Sometimes"');
    expect(diagnostics).toMatch(/restarts \d+/);
    expect(diagnostics).toMatch(/Events of pod/);
    expect(r.post.code).toBe(0);
    expect(await kindSnapshot(kube)).toEqual(before);
  });

  it("a cancel during provision (the runner's SIGINT, SIGTERM, SIGKILL) leaves the cluster as found after post", async () => {
    const { run: a } = actionRun({ 'max-replicas': '3', 'metric-target': '10' });
    const { step, dirs } = startMain(a);
    await lineOn(step, /::group::\[\d+\/\d+\] provision/);
    const sent = await cancelLikeRunner(step.child);
    const main = await step.done;
    expect(sent[0]).toBe('SIGINT');
    expect(main.code).not.toBe(0);
    const post = await runPost(a, dirs);
    expect(post.code, post.stdout.slice(-3000)).toBe(0);
    expect(parseCommandFile(fs.readFileSync(dirs.files.state, 'utf8')).run).toBeDefined();
    expect(await kindSnapshot(kube)).toEqual(before);
  });

  it(`the newest Karpenter the module proxy serves (${NEWEST_KARPENTER}) passes the chain too`, async () => {
    // Its go.mod asks for a newer Go than the machine's: Go fetches that toolchain from the module proxy, as setup-go would provide it.
    const r = await run({ 'karpenter-version': NEWEST_KARPENTER, 'max-replicas': '2', 'metric-target': '10' }, { GOTOOLCHAIN: 'auto' });
    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    const release = r.results.stages.find((s) => s.name === 'karpenter-install')!.evidence.find((e) => e.title === 'Karpenter Helm release')!.output;
    // Newer charts render more gates without defaults (CapacityBuffer): each gets a value.
    expect(release).toMatch(/feature gates: .*capacityBuffer=false/);
    expect(release).toMatch(/reconciling: .*Starting workers/);
    expect(await kindSnapshot(kube)).toEqual(before);
  });
});

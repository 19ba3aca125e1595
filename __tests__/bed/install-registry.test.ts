// Registry mode against the bed: a real ko build of Karpenter's KWOK provider pushed to a
// loopback registry (base image made locally with crane), then a real Helm install of the
// module's chart with --wait; KWOK runs the pod on a KWOK node set aside for critical add-ons.
// The Deployment's image is the digest ko pushed.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { configFrom } from '../../src/inputs.js';
import type * as k8s from '@kubernetes/client-node';
import { applyObject, deleteObject, type ObjectRef, readObject } from '../../src/kube/apply.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { watchUntil } from '../../src/kube/watch.js';
import { runStages } from '../../src/runner.js';
import { karpenterBuildStage } from '../../src/stages/karpenter-build.js';
import { karpenterInstallStage } from '../../src/stages/karpenter-install.js';
import { toolsStage } from '../../src/stages/tools.js';
import { HELM, KO } from '../../src/tools/catalog.js';
import { KARPENTER_NAMESPACE, KARPENTER_RELEASE, uninstallReleases } from '../../src/tools/helm.js';
import { downloadModule } from '../../src/tools/gomod.js';
import { detectPlatform } from '../../src/tools/platform.js';
import { which } from '../../src/tools/which.js';
import type { Config, RunState } from '../../src/types.js';
import { bin, loadBed, type Bed } from '../../testbed/lib/bed.js';
import { installEnv } from '../support/install-env.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { pushBaseImage, startChartRepo, startRegistry, type Registry } from '../support/registry.js';

let bed: Bed;
let kube: Kube;
let registry: Registry;
let mirror: Mirror;
let chartRepo: Mirror;
let crdsBefore: Set<string> | undefined;
let temp: string | undefined;
let config: Config;
let run: RunState | undefined;
const node = `gac-addons-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  bed = loadBed();
  kube = connect({ kubeconfig: bed.kubeconfig });
  temp = installEnv();
  const p = detectPlatform();
  registry = await startRegistry(bin(bed, 'registry'));
  const kwokModule = await downloadModule(which('go')!, 'sigs.k8s.io/kwok', bed.versions.KWOK_VERSION!);
  const kwokCrds = readdirSync(join(kwokModule.Dir, 'kustomize/crd/bases')).map((f) => join(kwokModule.Dir, 'kustomize/crd/bases', f));
  chartRepo = await startChartRepo(bin(bed, 'helm'), [
    { dir: join(kwokModule.Dir, 'charts/kwok'), crds: kwokCrds },
    { dir: join(kwokModule.Dir, 'charts/stage-fast') },
  ]);
  crdsBefore = new Set((await kube.apiext.listCustomResourceDefinition()).items.map((c) => c.metadata!.name!));
  process.env.KO_DEFAULTBASEIMAGE = pushBaseImage(bin(bed, 'crane'), registry.host, p.arch);
  mirror = await startMirror(
    [
      { desc: HELM, version: bed.versions.HELM_VERSION!.slice(1), binary: bin(bed, 'helm') },
      { desc: KO, version: bed.versions.KO_VERSION!.slice(1), binary: bin(bed, 'ko') },
    ],
    p,
  );
  // ko and helm go into a private tool cache; the Karpenter build record into the shared one
  // would be keyed by this run's registry port, so it goes to the private cache too.
  process.env.RUNNER_TOOL_CACHE = mkdtempSync(join(tmpdir(), 'gac-tc-reg-'));
  config = configFrom({
    kubeconfig: bed.kubeconfig,
    'karpenter-mode': 'registry',
    'image-repository': `${registry.host}/karpenter`,
    // The KWOK controller's charts from a loopback chart repository (built from the kwok module).
    'kwok-install': 'install',
    'kwok-chart-repository': `${chartRepo.url}/`,
    'tools-mirror': mirror.url,
    'helm-version': bed.versions.HELM_VERSION!,
    'ko-version': bed.versions.KO_VERSION!,
    'run-id': `reg-${randomBytes(3).toString('hex')}`,
    'evidence-dir': join(temp, 'evidence'),
    stages: 'tools,karpenter-build,karpenter-install',
    timeouts: 'karpenter-build=25m,karpenter-install=5m',
  });
  // A KWOK node for the add-ons (Karpenter's and KWOK's charts); it has no GPU, so no workload lands on it.
  await kube.core.createNode({
    body: {
      metadata: {
        name: node,
        annotations: { 'kwok.x-k8s.io/node': 'fake' },
        labels: {
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': p.arch,
          'kubernetes.io/hostname': node,
          type: 'kwok',
          [`gpu-autoscaling-conformance/run-id`]: config.runId,
        },
      },
      status: { allocatable: { cpu: '8', memory: '32Gi', pods: '110' }, capacity: { cpu: '8', memory: '32Gi', pods: '110' } },
    },
  });
});

/** What a test's runs installed, removed (Helm releases, then applied cluster objects). */
async function undo(r: RunState | undefined): Promise<void> {
  if (!r) return;
  await uninstallReleases(r, config);
  for (const o of [...r.appliedClusterObjects].reverse()) await deleteObject(kube, { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.name } });
}

afterAll(async () => {
  // Every step runs even when an earlier one fails; the first failure is reported at the end.
  const errors: unknown[] = [];
  const step = async (f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      errors.push(e);
    }
  };
  await step(() => undo(run));
  if (kube) {
    // Helm leaves a chart's CRDs behind: remove the ones the KWOK chart added, and see them gone.
    const added = (c: k8s.V1CustomResourceDefinition) => !!crdsBefore && !crdsBefore.has(c.metadata!.name!) && c.spec.group === 'kwok.x-k8s.io';
    await step(async () => {
      for (const c of (await kube.apiext.listCustomResourceDefinition()).items) {
        if (added(c)) await kube.apiext.deleteCustomResourceDefinition({ name: c.metadata!.name! });
      }
    });
    // A CRD deleted while its watch cache initialises can stall in Terminating (InstanceDeletionFailed:
    // "storage is (re)initializing") until the finalizer's backoff expires, minutes later; an update
    // of the CRD requeues it at once. So each stalled CRD seen gets one annotation.
    const nudged = new Set<string>();
    await step(() =>
      watchUntil<k8s.V1CustomResourceDefinition & k8s.KubernetesObject, true>(kube, {
        path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
        signal: AbortSignal.timeout(300_000),
        describe: 'KWOK chart CRDs gone',
        until: (items) => {
          const left = [...items.values()].filter(added);
          for (const c of left) {
            const stalled = c.status?.conditions?.some((x) => x.type === 'Terminating' && x.reason === 'InstanceDeletionFailed');
            const key = `${c.metadata!.name}@${c.metadata!.resourceVersion}`;
            if (stalled && !nudged.has(key)) {
              nudged.add(key);
              void applyObject(
                kube,
                {
                  apiVersion: 'apiextensions.k8s.io/v1',
                  kind: 'CustomResourceDefinition',
                  metadata: { name: c.metadata!.name!, annotations: { 'gac-test/requeue': key } },
                },
                { fieldManager: 'gac-test-requeue' },
              ).catch(() => undefined);
            }
          }
          return left.length ? undefined : true;
        },
      }),
    );
    await step(() => deleteObject(kube, { apiVersion: 'v1', kind: 'Node', metadata: { name: node } }));
  }
  await step(async () => chartRepo?.close());
  await step(async () => mirror?.close());
  await step(async () => registry?.stop());
  if (temp) rmSync(temp, { recursive: true, force: true });
  if (process.env.RUNNER_TOOL_CACHE?.includes('gac-tc-reg-')) rmSync(process.env.RUNNER_TOOL_CACHE, { recursive: true, force: true });
  if (errors.length) throw errors[0];
});

describe('karpenter-mode registry', () => {
  it('ko pushes to the registry, Helm installs the chart with --wait, the Deployment runs the pushed digest', async () => {
    const result = await runStages([toolsStage, karpenterBuildStage, karpenterInstallStage], config);
    run = result.run;
    for (const r of result.records) console.log(`[figures] registry: ${r.name} ${r.status} ${r.durationMs} ms: ${r.message}`);
    expect(result.records.map((r) => `${r.name}:${r.status}`)).toEqual(['tools:pass', 'karpenter-build:pass', 'karpenter-install:pass']);
    const image = run.versions['karpenter-image']!;
    expect(image).toMatch(new RegExp(`^${registry.host}/karpenter/kwok(:[\\w.-]+)?@sha256:[0-9a-f]{64}$`));
    const digest = image.split('@')[1]!;
    // The registry holds that manifest.
    const head = await fetch(`http://${registry.host}/v2/karpenter/kwok/manifests/${digest}`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
    });
    expect(head.status).toBe(200);
    const dep = await kube.apps.readNamespacedDeployment({ name: KARPENTER_RELEASE, namespace: KARPENTER_NAMESPACE });
    expect(dep.spec?.template.spec?.containers[0]?.image).toBe(`${registry.host}/karpenter/kwok:latest@${digest}`);
    expect(dep.spec?.template.spec?.containers[0]?.imagePullPolicy).toBe('IfNotPresent');
    expect(dep.status?.readyReplicas).toBe(1);
    const pods = await kube.core.listNamespacedPod({ namespace: KARPENTER_NAMESPACE, labelSelector: 'app.kubernetes.io/name=karpenter' });
    expect(pods.items.map((p) => `${p.spec?.nodeName}:${p.status?.phase}`)).toEqual([`${node}:Running`]);
    expect(run.helmReleases).toEqual([
      { namespace: KARPENTER_NAMESPACE, name: 'kwok' },
      { namespace: KARPENTER_NAMESPACE, name: 'kwok-stage-fast' },
      { namespace: KARPENTER_NAMESPACE, name: KARPENTER_RELEASE },
    ]);
    const kwok = await kube.apps.listNamespacedDeployment({ namespace: KARPENTER_NAMESPACE, labelSelector: 'app.kubernetes.io/name=kwok' });
    expect(kwok.items.map((d) => `${d.metadata?.name}:${d.status?.readyReplicas}`)).toEqual(['kwok-controller:1']);
    expect(result.records[2]!.evidence.find((e) => e.title === 'Karpenter Helm release')?.output).toContain(
      `KWOK controller: installed from ${chartRepo.url} (charts kwok, stage-fast)`,
    );
  });

  it('existing mode finds the Helm-installed Karpenter Deployment by label and the GPU NodePool', async () => {
    const [pool, nodeClass] = config.nodePool.manifests as unknown as k8s.KubernetesObject[];
    const created: k8s.KubernetesObject[] = [];
    try {
      for (const o of [nodeClass!, pool!]) {
        if (!(await readObject(kube, o as ObjectRef))) created.push(o);
        await applyObject(kube, o);
      }
      const existing = configFrom({
        kubeconfig: bed.kubeconfig,
        'karpenter-mode': 'existing',
        'evidence-dir': config.evidenceDir,
        'run-id': config.runId,
        stages: 'karpenter-install',
      });
      const r = await runStages([karpenterInstallStage], existing);
      expect(r.records[0]!.status).toBe('pass');
      // Other runs on the shared bed may have GPU NodePools too.
      expect(r.records[0]!.message).toMatch(
        new RegExp(`^existing Karpenter found: Deployment ${KARPENTER_NAMESPACE}/${KARPENTER_RELEASE}; GPU NodePool\\(s\\): (.+, )?gpu(, .+)?$`),
      );
    } finally {
      for (const o of created.reverse()) await deleteObject(kube, o as ObjectRef);
    }
  });

  it('refuses to install over a Karpenter release that is already there, changing nothing', async () => {
    const second = await runStages([toolsStage, karpenterBuildStage, karpenterInstallStage], {
      ...config,
      runId: `${config.runId}-b`,
      stages: ['tools', 'karpenter-build', 'karpenter-install'],
    });
    onTestFinished(() => undo(second.run));
    expect(second.records.map((r) => `${r.name}:${r.status}`)).toEqual(['tools:pass', 'karpenter-build:pass', 'karpenter-install:fail']);
    expect(second.records[2]!.message).toContain(`Expected no Helm release ${KARPENTER_NAMESPACE}/${KARPENTER_RELEASE} before installing; one exists`);
    expect(second.run.helmReleases).toEqual([]);
    expect(second.run.appliedClusterObjects).toEqual([]);
  });

  it('a second run finds the image still in the registry: cache hit, no ko build', async () => {
    const again = await runStages([toolsStage, karpenterBuildStage], { ...config, stages: ['tools', 'karpenter-build'] });
    for (const r of again.records) console.log(`[figures] registry warm: ${r.name} ${r.status} ${r.durationMs} ms: ${r.message}`);
    expect(again.records.map((r) => `${r.name}:${r.status}`)).toEqual(['tools:pass', 'karpenter-build:pass']);
    expect(again.records[1]!.message).toMatch(/^cache hit: /);
    expect(again.run.versions['karpenter-image']).toBe(run!.versions['karpenter-image']);
  });
});

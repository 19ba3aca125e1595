import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { isTrue, formatConditions, type WithConditions } from '../checks/conditions.js';
import { applyObject, parseManifests, readObject } from '../kube/apply.js';
import type { Kube } from '../kube/client.js';
import { NODEPOOLS } from '../kube/paths.js';
import { ApiError, getJson } from '../kube/raw.js';
import { waitFor } from '../kube/wait.js';
import { run as runCommand } from '../tools/exec.js';
import {
  INSTANCE_TYPES_CONFIGMAP,
  INSTANCE_TYPES_KEY,
  KARPENTER_NAMESPACE,
  KARPENTER_RELEASE,
  KWOK_CHARTS,
  helmUpgradeArgs,
  karpenterValues,
  kubeArgs,
} from '../tools/helm.js';
import type { KarpenterBuild } from '../tools/karpenter.js';
import { freePort, karpenterLogTail, karpenterProcessEnv, privateDir, rememberChild, startKarpenterProcess } from '../tools/karpenter-process.js';
import { which } from '../tools/which.js';
import { BUILD_DIR_KEY } from './karpenter-build.js';
import { pass, StageFailure, type Stage, type StageContext } from './stage.js';

const CRDS_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
export const KARPENTER_SELECTOR = 'app.kubernetes.io/name=karpenter';
export const GPU_RESOURCE = 'nvidia.com/gpu';

/** The cached build the karpenter-build stage left (CRDs, binary or image, chart). */
function buildOf(ctx: StageContext): { dir: string; build: KarpenterBuild } {
  const dir = ctx.run.toolPaths[BUILD_DIR_KEY];
  if (!dir)
    throw new StageFailure('Expected the karpenter-build stage to have produced a build; it did not run', 'include karpenter-build in the stages input');
  return { dir, build: JSON.parse(readFileSync(join(dir, 'build.json'), 'utf8')) as KarpenterBuild };
}

/** Applies Karpenter's CRDs (recording the ones this run added) and waits until they are Established. */
async function applyCrds(ctx: StageContext, dir: string): Promise<string[]> {
  const kube = ctx.kube();
  const files = readdirSync(join(dir, 'crds'))
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  const crds = files.flatMap((f) => parseManifests(readFileSync(join(dir, 'crds', f), 'utf8'), f));
  const names = crds.map((c) => c.metadata!.name!);
  // Independent objects: applied in parallel (one round trip of latency, not four).
  const created = await Promise.all(
    crds.map(async (crd) => {
      const before = await readObject(kube, { apiVersion: crd.apiVersion!, kind: crd.kind!, metadata: { name: crd.metadata!.name! } });
      await applyObject(kube, crd);
      return !before;
    }),
  );
  crds.forEach((crd, i) => {
    if (created[i]) ctx.run.appliedClusterObjects.push({ apiVersion: crd.apiVersion!, kind: crd.kind!, name: crd.metadata!.name! });
  });
  await waitFor<k8s.V1CustomResourceDefinition & k8s.KubernetesObject, true>(
    ctx,
    {
      path: CRDS_PATH,
      describe: `Karpenter CRDs Established (${names.join(', ')})`,
      until: (items) => (names.every((n) => isTrue(items.get(n) as WithConditions, 'Established')) ? true : undefined),
      state: (items) => names.map((n) => `${n}: ${isTrue(items.get(n) as WithConditions, 'Established') ? 'Established' : 'not yet'}`).join(', '),
    },
    { expected: `Karpenter's CRDs Established`, next: 'check the apiserver log; a CRD the apiserver rejects shows in kubectl get crd -o yaml' },
  );
  ctx.evidence({ title: 'Karpenter CRDs', command: `kubectl get crd ${names.join(' ')}`, output: names.map((n) => `${n} Established`).join('\n') });
  return names;
}

/**
 * A kubeconfig Karpenter can read through KUBECONFIG: the input file as is, or, when a context
 * is chosen, a minimal file holding only that context (Karpenter has no --context). It goes to
 * a private temp dir, never to the evidence.
 */
export function minimalKubeconfig(kc: k8s.KubeConfig): string {
  const context = kc.getContextObject(kc.getCurrentContext());
  if (!context) throw new Error(`the kubeconfig has no context ${kc.getCurrentContext()}`);
  const cluster = kc.getCluster(context.cluster);
  const user = context.user ? kc.getUser(context.user) : undefined;
  const min = new k8s.KubeConfig();
  min.loadFromOptions({ clusters: cluster ? [cluster] : [], users: user ? [user] : [], contexts: [context], currentContext: context.name });
  return min.exportConfig();
}

function kubeconfigFor(ctx: StageContext): string | undefined {
  if (!ctx.config.context) return ctx.config.kubeconfig;
  const dir = privateDir(ctx.run.runId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, minimalKubeconfig(ctx.kube().kc), { mode: 0o600 });
  return file;
}

/** The instance types file Karpenter reads (written into the evidence: it is part of what was tested). */
function writeInstanceTypes(ctx: StageContext): string {
  const rel = ctx.writeFile('karpenter/instance-types.json', `${JSON.stringify(ctx.config.instanceTypes, null, 2)}\n`);
  return join(ctx.config.evidenceDir, rel);
}

async function installProcess(ctx: StageContext): Promise<string> {
  const { dir, build } = buildOf(ctx);
  if (!build.binary) throw new StageFailure(`Expected a process-mode build in ${dir}; it holds ${build.mode} mode`);
  const binary = join(dir, build.binary);
  const crds = await applyCrds(ctx, dir);
  const instanceTypesFile = writeInstanceTypes(ctx);
  const kubeconfig = kubeconfigFor(ctx);
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const logRel = ctx.writeFile('karpenter/karpenter.log', '');
  const logFile = join(ctx.config.evidenceDir, logRel);
  const env = karpenterProcessEnv(process.env, {
    kubeconfig: kubeconfig ?? process.env.KUBECONFIG ?? '',
    instanceTypesFile,
    metricsPort,
    healthPort,
    systemNamespace: KARPENTER_NAMESPACE,
  });
  if (!kubeconfig && !process.env.KUBECONFIG) delete env.KUBECONFIG; // in-cluster or ~/.kube/config, as client-go finds it
  ctx.run.karpenterLog = logFile;
  ctx.info(`starting ${binary} (metrics :${metricsPort}, health :${healthPort}, log ${logFile})`);
  const started = Date.now();
  let s;
  try {
    s = await startKarpenterProcess({
      binary,
      env,
      logFile,
      healthPort,
      signal: ctx.signal,
      onSpawn: (pid) => {
        ctx.run.karpenterPid = pid;
        ctx.checkpoint();
      },
    });
  } catch (err) {
    throw new StageFailure(
      `Expected Karpenter (${binary}) to become ready; ${(err as Error).message}`,
      'read the Karpenter log in the evidence (karpenter/karpenter.log)',
    );
  }
  rememberChild(s);
  ctx.run.karpenterPid = s.pid;
  ctx.run.karpenterHealthUrl = s.healthUrl;
  ctx.evidence({
    title: 'Karpenter process',
    command: `KUBECONFIG=... DISABLE_LEADER_ELECTION=true INSTANCE_TYPES_FILE_PATH=${instanceTypesFile} METRICS_PORT=${metricsPort} HEALTH_PROBE_PORT=${healthPort} ${binary}`,
    output: `pid ${s.pid}, ready at ${s.healthUrl} after ${Date.now() - started} ms\nCRDs: ${crds.join(', ')}`,
    files: [logRel, 'karpenter/instance-types.json'],
  });
  return `Karpenter ${build.module.version} running as pid ${s.pid}, ready in ${Math.round((Date.now() - started) / 100) / 10} s`;
}

async function helm(ctx: StageContext, args: string[]): Promise<string> {
  const bin = ctx.run.toolPaths.helm ?? which('helm');
  if (!bin) throw new StageFailure('Expected helm from the tools stage or on PATH; found none', 'include tools in the stages input');
  return (await runCommand(bin, args, { signal: ctx.signal, onLine: (l) => ctx.info(`helm: ${l}`) })).stdout;
}

async function releaseExists(ctx: StageContext, name: string, namespace: string): Promise<boolean> {
  const out = await helm(ctx, ['list', '--namespace', namespace, '--filter', `^${name}$`, '--short', ...kubeArgs(ctx.config)]);
  return out.trim().split('\n').includes(name);
}

/** Is a KWOK controller already there (a Deployment from its chart, or Stage objects of a kwokctl cluster)? */
async function kwokInstalled(kube: Kube): Promise<string | undefined> {
  const deps = await kube.apps.listDeploymentForAllNamespaces({ labelSelector: 'app.kubernetes.io/name=kwok' });
  if (deps.items.length > 0) return `Deployment ${deps.items[0]!.metadata!.namespace}/${deps.items[0]!.metadata!.name}`;
  try {
    const stages = await getJson<{ items: unknown[] }>(kube, '/apis/kwok.x-k8s.io/v1alpha1/stages');
    if (stages.items.length > 0) return `${stages.items.length} kwok Stage object(s)`;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  return undefined;
}

function remainingMs(ctx: StageContext, startedAt: number): number {
  return Math.max(10_000, ctx.config.timeouts['karpenter-install'] - (Date.now() - startedAt) - 5_000);
}

async function installWithHelm(ctx: StageContext, startedAt: number): Promise<string> {
  const mode = ctx.config.karpenterMode as 'kind' | 'registry';
  const { dir, build } = buildOf(ctx);
  if (!build.imageParts) throw new StageFailure(`Expected a ${mode}-mode build with an image in ${dir}; it holds ${build.mode} mode`);
  const kube = ctx.kube();
  const notes: string[] = [];
  // Checked before any change: a Karpenter release someone else installed is not ours to upgrade or remove.
  if (await releaseExists(ctx, KARPENTER_RELEASE, KARPENTER_NAMESPACE)) {
    throw new StageFailure(
      `Expected no Helm release ${KARPENTER_NAMESPACE}/${KARPENTER_RELEASE} before installing; one exists`,
      'use karpenter-mode: existing to test the installed Karpenter, or helm uninstall it first',
    );
  }

  if (ctx.config.kwokInstall === 'skip') notes.push('KWOK controller: skipped (kwok-install: skip)');
  else {
    const found = await kwokInstalled(kube);
    if (found) notes.push(`KWOK controller: already installed (${found})`);
    else {
      for (const c of KWOK_CHARTS) {
        ctx.run.helmReleases.push({ namespace: KARPENTER_NAMESPACE, name: c.release });
        await helm(
          ctx,
          helmUpgradeArgs({
            release: c.release,
            chart: c.chart,
            repo: ctx.config.kwokChartRepository,
            namespace: KARPENTER_NAMESPACE,
            timeoutMs: remainingMs(ctx, startedAt),
            config: ctx.config,
          }),
        );
      }
      notes.push(`KWOK controller: installed from ${ctx.config.kwokChartRepository} (charts ${KWOK_CHARTS.map((c) => c.chart).join(', ')})`);
    }
  }

  const crds = await applyCrds(ctx, dir);
  await applyObject(kube, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: INSTANCE_TYPES_CONFIGMAP, namespace: KARPENTER_NAMESPACE, labels: { [ctx.run.runLabel.key]: ctx.run.runLabel.value } },
    data: { [INSTANCE_TYPES_KEY]: JSON.stringify(ctx.config.instanceTypes) },
  } as k8s.KubernetesObject);

  const values = karpenterValues({ mode, image: build.imageParts });
  const valuesRel = ctx.writeFile('karpenter/values.yaml', `${JSON.stringify(values, null, 2)}\n`);
  ctx.run.helmReleases.push({ namespace: KARPENTER_NAMESPACE, name: KARPENTER_RELEASE });
  const args = helmUpgradeArgs({
    release: KARPENTER_RELEASE,
    chart: join(dir, 'chart'),
    namespace: KARPENTER_NAMESPACE,
    valuesFile: join(ctx.config.evidenceDir, valuesRel),
    timeoutMs: remainingMs(ctx, startedAt),
    config: ctx.config,
    skipCrds: true,
  });
  await helm(ctx, args);
  const dep = await kube.apps.readNamespacedDeployment({ name: KARPENTER_RELEASE, namespace: KARPENTER_NAMESPACE });
  const image = dep.spec?.template.spec?.containers[0]?.image;
  ctx.evidence({
    title: 'Karpenter Helm release',
    command: `helm ${args.filter((a) => !a.startsWith('/') || a.includes('chart')).join(' ')}; kubectl -n ${KARPENTER_NAMESPACE} get deploy ${KARPENTER_RELEASE} -o wide`,
    output: `${notes.join('\n')}\nCRDs: ${crds.join(', ')}\ndeployment ${KARPENTER_NAMESPACE}/${KARPENTER_RELEASE}: ${dep.status?.readyReplicas ?? 0}/${dep.spec?.replicas ?? 1} ready, image ${image}`,
    files: [valuesRel],
  });
  return `Karpenter ${build.module.version} installed with Helm (${mode}), image ${image}`;
}

interface DeploymentLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { replicas?: number };
  status?: { readyReplicas?: number; availableReplicas?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/** A Karpenter Deployment is healthy when Available and at least one replica is ready. Pure. */
export function deploymentHealthy(d: DeploymentLike): boolean {
  return isTrue(d as WithConditions, 'Available') && (d.status?.readyReplicas ?? 0) >= 1;
}

export function describeDeployment(d: DeploymentLike): string {
  return `${d.metadata?.namespace}/${d.metadata?.name}: ${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 1} ready; ${formatConditions(d as WithConditions)}`;
}

export interface NodePoolLike {
  metadata?: { name?: string; generation?: number };
  spec?: { limits?: Record<string, string | number> };
  status?: { conditions?: { type: string; status: string; observedGeneration?: number }[] };
}

/** NodePools that cap GPUs: the ones a GPU scale-up can use. Pure. */
export function gpuNodePools<T extends NodePoolLike>(pools: T[]): T[] {
  return pools.filter((p) => p.spec?.limits?.[GPU_RESOURCE] !== undefined);
}

/** A NodePool whose Ready condition a controller set for its current generation: a Karpenter reconciles it. Pure. */
export function reconciled(p: NodePoolLike): boolean {
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'True' && (ready.observedGeneration === undefined || ready.observedGeneration === p.metadata?.generation);
}

async function validateExisting(ctx: StageContext): Promise<string> {
  const kube = ctx.kube();
  const deps = (await kube.apps.listDeploymentForAllNamespaces({ labelSelector: KARPENTER_SELECTOR })).items as DeploymentLike[];
  let pools: NodePoolLike[];
  try {
    pools = (await getJson<{ items: NodePoolLike[] }>(kube, NODEPOOLS, undefined, ctx.signal)).items;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404)
      throw new StageFailure(
        'Expected Karpenter installed (karpenter-mode existing); the karpenter.sh/v1 NodePool API is absent',
        'install Karpenter >= 1.0, or choose karpenter-mode process/kind/registry',
      );
    throw e;
  }
  const gpu = gpuNodePools(pools);
  const lines = [
    ...deps.map((d) => `deployment ${describeDeployment(d)}`),
    ...gpu.map((p) => `GPU NodePool ${p.metadata?.name}: limit ${GPU_RESOURCE}=${p.spec!.limits![GPU_RESOURCE]}, ${reconciled(p) ? 'Ready' : 'not Ready'}`),
  ];
  ctx.evidence({
    title: 'Installed Karpenter',
    command: `kubectl get deploy -A -l ${KARPENTER_SELECTOR}; kubectl get nodepools`,
    output: lines.join('\n') || '(nothing found)',
  });
  const healthy = deps.filter(deploymentHealthy);
  if (deps.length > 0 && healthy.length === 0) {
    throw new StageFailure(
      `Expected a healthy Karpenter Deployment; found ${deps.map(describeDeployment).join('; ')}`,
      'kubectl describe the Deployment and read its pod logs',
    );
  }
  if (gpu.length === 0) {
    throw new StageFailure(
      `Expected a GPU NodePool (spec.limits["${GPU_RESOURCE}"]); found ${pools.length ? pools.map((p) => p.metadata?.name).join(', ') : 'no NodePools'}`,
      'apply a NodePool with an nvidia.com/gpu limit (see manifests/nodepool.yaml) or run the nodepool stage',
    );
  }
  if (healthy.length === 0 && !gpu.some(reconciled)) {
    throw new StageFailure(
      `Expected a running Karpenter: no Deployment labelled ${KARPENTER_SELECTOR}, and no GPU NodePool reconciled (Ready) by a controller`,
      'install Karpenter, or choose karpenter-mode process',
    );
  }
  const who = healthy.length
    ? `Deployment ${healthy.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`).join(', ')}`
    : 'an out-of-cluster controller (no Deployment; its GPU NodePool is Ready)';
  return `existing Karpenter found: ${who}; GPU NodePool(s): ${gpu.map((p) => p.metadata?.name).join(', ')}`;
}

export const karpenterInstallStage: Stage = {
  name: 'karpenter-install',
  async run(ctx) {
    const startedAt = Date.now();
    switch (ctx.config.karpenterMode) {
      case 'process':
        return pass(await installProcess(ctx));
      case 'kind':
      case 'registry':
        return pass(await installWithHelm(ctx, startedAt));
      case 'existing':
        return pass(await validateExisting(ctx));
    }
  },
  async diagnose(ctx) {
    const tail = karpenterLogTail(ctx.run, 80);
    if (tail) ctx.diagnostic({ title: 'Karpenter log (last 80 lines)', command: `tail -n 80 ${ctx.run.karpenterLog}`, output: tail });
    if (ctx.config.karpenterMode === 'kind' || ctx.config.karpenterMode === 'registry') {
      const kube = ctx.kube();
      const pods = await kube.core.listNamespacedPod({ namespace: KARPENTER_NAMESPACE, labelSelector: KARPENTER_SELECTOR }).catch(() => undefined);
      ctx.diagnostic({
        title: 'Karpenter pods',
        command: `kubectl -n ${KARPENTER_NAMESPACE} get pods -l ${KARPENTER_SELECTOR} -o wide`,
        output:
          pods?.items
            .map(
              (p) =>
                `${p.metadata?.name} ${p.status?.phase} node=${p.spec?.nodeName ?? '-'} ${(p.status?.conditions ?? []).map((c) => `${c.type}=${c.status}${c.message ? ` (${c.message})` : ''}`).join(' ')}`,
            )
            .join('\n') || '(none)',
      });
    }
  },
};

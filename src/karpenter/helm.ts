// kind and registry modes: Karpenter's KWOK provider built into an image with ko and installed
// with its Helm chart, next to the KWOK controller. The two differ only in where the image goes
// (side-loaded into the kind nodes, or pushed to a registry), which an ImageTarget says.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { countPullRefusals, karpenterPodsVerdict, RECONCILING_LINE, type PodLike, type PodVerdict, type PullRefusals } from '../checks/karpenter.js';
import type { PermissionRule } from '../checks/permissions.js';
import { applyObject, deleteObject, readObject } from '../kube/apply.js';
import { connect } from '../kube/client.js';
import { formatEvents, listEvents } from '../kube/events.js';
import { podsIn } from '../kube/paths.js';
import { StageFailure, type StageContext } from '../stages/stage.js';
import { probeUntil, waitFor } from '../stages/wait.js';
import { HELM, KO } from '../tools/catalog.js';
import { helmUpgradeArgs, KARPENTER_RELEASE } from '../tools/helm.js';
import type { KarpenterBuild } from '../tools/karpenter.js';
import { manifestPresent } from '../tools/registry.js';
import { which } from '../tools/which.js';
import type { Config } from '../types.js';
import { buildForMode, buildOf } from './build.js';
import { kindImages } from './kind-image.js';
import { applyCrds, crdRules } from './crds.js';
import { helm, releaseExists, uninstallReleases } from './helm-cli.js';
import { ensureKwok } from './kwok.js';
import type { KarpenterProvider } from './provider.js';
import { chartFeatureGates, INSTANCE_TYPES_CONFIGMAP, INSTANCE_TYPES_KEY, karpenterValues, mergeValues } from './values.js';

/** The pods of the action's Karpenter release. */
export const KARPENTER_POD_SELECTOR = `app.kubernetes.io/name=karpenter,app.kubernetes.io/instance=${KARPENTER_RELEASE}`;

/** Where ko puts the image, and what that means for the cluster that runs it. */
interface ImageTarget {
  mode: 'kind' | 'registry';
  /** The build's cache key part: a build for one cluster or repository is no use to another. */
  target(config: Config): string;
  koEnv(config: Config): NodeJS.ProcessEnv;
  pullPolicy: 'Never' | 'IfNotPresent';
  /** KWOK controller chart values this target needs. */
  kwokSet: string[];
  /**
   * Is a cached build's image where the cluster gets it? It may put it there from the build's
   * archive in `dir`; false or 'unknown' rebuilds, saying why.
   */
  imageReady(ctx: StageContext, build: KarpenterBuild, dir: string): Promise<boolean>;
  /** Keeps the built image next to the build (the Actions cache then carries it to a new cluster); its file name. */
  keepImage?(ctx: StageContext, image: string, dir: string): Promise<string>;
  preflight(ctx: StageContext): Promise<void>;
}

function dockerFor(what: string): string {
  const docker = which('docker');
  if (!docker) throw new StageFailure(`Expected docker on PATH to ${what} (karpenter-mode kind)`, 'run on a runner with docker, where the kind cluster runs');
  return docker;
}

const KIND: ImageTarget = {
  mode: 'kind',
  target: (config) => `kind:${config.clusterName}`,
  // ko's kind publisher loads the image into every node of the cluster through docker.
  koEnv: (config) => ({ KO_DOCKER_REPO: 'kind.local', KIND_CLUSTER_NAME: config.clusterName }),
  pullPolicy: 'Never',
  // The KWOK chart's own advice for kind clusters.
  kwokSet: ['hostNetwork=true'],
  async imageReady(ctx, build, dir) {
    if (!build.image) return false;
    const images = kindImages(dockerFor('find the Karpenter image on the kind nodes'), ctx.config.clusterName, ctx.signal);
    const missing = await images.missingOn(build.image);
    if (missing.length === 0) return true;
    if (!build.imageArchive) return false;
    const started = Date.now();
    await images.load(join(dir, build.imageArchive), missing);
    if ((await images.missingOn(build.image)).length > 0) return false;
    ctx.info(`loaded ${build.image} from the build's archive into ${missing.join(', ')} in ${Date.now() - started} ms`);
    return true;
  },
  keepImage: (ctx, image, dir) => kindImages(dockerFor('keep the Karpenter image'), ctx.config.clusterName, ctx.signal).keep(image, dir),
  async preflight(ctx) {
    const cp = `${ctx.config.clusterName}-control-plane`;
    const nodes = (await ctx.kube().core.listNode({ fieldSelector: `metadata.name=${cp}` })).items;
    if (nodes.length === 0)
      throw new StageFailure(
        `Expected the kind cluster ${ctx.config.clusterName} (node ${cp}); no such node in the current context`,
        'check the cluster-name input and the kubeconfig context (kind get clusters)',
      );
  },
};

const REGISTRY: ImageTarget = {
  mode: 'registry',
  target: (config) => config.imageRepository ?? '',
  koEnv: (config) => ({ KO_DOCKER_REPO: config.imageRepository ?? '' }),
  pullPolicy: 'IfNotPresent',
  kwokSet: [],
  async imageReady(ctx, build) {
    const { config, signal } = ctx;
    if (!build.image) return false;
    const answer = await manifestPresent(build.image, { signal });
    if (typeof answer === 'object' && 'refused' in answer)
      throw new StageFailure(
        `Expected the registry to accept the runner's credentials for ${build.image}; ${answer.refused}`,
        `log in again with a token that can pull and push ${config.imageRepository ?? 'the image repository'} (docker login, or docker/login-action; DOCKER_CONFIG points at another config.json), then re-run`,
      );
    if (typeof answer === 'object') ctx.info(`cannot tell whether ${build.image} is still in the registry: ${answer.unknown}; rebuilding`);
    return answer === 'present';
  },
  preflight: async () => undefined,
};

function remainingMs(ctx: StageContext, startedAt: number): number {
  return Math.max(10_000, ctx.config.timeouts['karpenter-install'] - (Date.now() - startedAt) - 5_000);
}

/** Feature gates for the chart in the build: every gate its template renders gets a value. */
function featureGatesOf(chartDir: string): Record<string, boolean> {
  return chartFeatureGates(readFileSync(join(chartDir, 'templates', 'deployment.yaml'), 'utf8'), readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
}

/** Waits until a pod of the release is Ready; fails at once when one crashes, or when its image is refused a second time. */
async function waitRunning(ctx: StageContext): Promise<PodLike> {
  let seen: PodLike[] = [];
  let pulls: PullRefusals = new Map();
  const verdict = await waitFor<k8s.V1Pod, PodVerdict>(
    ctx,
    {
      path: podsIn(ctx.config.karpenterNamespace),
      labelSelector: KARPENTER_POD_SELECTOR,
      describe: 'a Karpenter pod Ready',
      until: (items) => {
        seen = [...items.values()] as PodLike[];
        pulls = countPullRefusals(pulls, seen);
        const v = karpenterPodsVerdict(seen, pulls);
        return v.state === 'starting' ? undefined : v;
      },
      state: (items) => {
        const v = karpenterPodsVerdict([...items.values()] as PodLike[], pulls);
        return v.state === 'starting' ? v.detail : v.state;
      },
    },
    {
      expected: `a Karpenter pod (${KARPENTER_POD_SELECTOR}) Ready in ${ctx.config.karpenterNamespace}`,
      next: 'read the pod events and log in the diagnostics',
    },
  );
  if (verdict.state === 'failed') {
    throw new StageFailure(`Expected Karpenter's pod to run; ${verdict.reason}`, "read the container's log and the pod events in the diagnostics");
  }
  return seen.find((p) => karpenterPodsVerdict([p]).state === 'running')!;
}

/** Waits until the running pod's log shows its controllers started (ready is not yet reconciling). */
async function waitReconciling(ctx: StageContext, pod: PodLike): Promise<string> {
  const kube = ctx.kube();
  const name = pod.metadata!.name!;
  return probeUntil(
    ctx,
    async () => {
      const log = await kube.core.readNamespacedPodLog({ name, namespace: ctx.config.karpenterNamespace, container: 'controller' });
      const line = log.split('\n').find((l) => RECONCILING_LINE.test(l));
      return line
        ? { result: line, state: 'reconciling' }
        : { state: `pod ${name} Ready; its log shows no controller started yet (${log.split('\n').length} lines)` };
    },
    {
      expected: `Karpenter's controllers started (a "Starting workers" line in pod ${name}'s log)`,
      next: 'read the Karpenter log in the diagnostics (leader election, API access)',
    },
  );
}

/** Creates the release namespace when absent, as the run's own (cleanup removes it; helm --create-namespace would leave it). */
async function ensureNamespace(ctx: StageContext, name: string): Promise<void> {
  const ref = { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
  if (await readObject(ctx.kube(), ref)) return;
  await applyObject(ctx.kube(), { ...ref, metadata: { name, labels: { [ctx.run.runLabel.key]: ctx.run.runLabel.value } } }, { signal: ctx.signal });
  ctx.run.appliedClusterObjects.push({ apiVersion: 'v1', kind: 'Namespace', name });
  ctx.checkpoint();
}

function helmProvider(t: ImageTarget): KarpenterProvider {
  async function install(ctx: StageContext): Promise<string> {
    const startedAt = Date.now();
    const { dir, build } = buildOf(ctx);
    if (!build.imageParts) throw new StageFailure(`Expected a ${t.mode}-mode build with an image in ${dir}; it holds ${build.mode} mode`);
    const kube = ctx.kube();
    // Checked before any change: a Karpenter release someone else installed is not ours to upgrade or remove.
    if (await releaseExists(ctx, KARPENTER_RELEASE, ctx.config.karpenterNamespace)) {
      throw new StageFailure(
        `Expected no Helm release ${ctx.config.karpenterNamespace}/${KARPENTER_RELEASE} before installing; one exists`,
        'use karpenter-mode: existing to test the installed Karpenter, or helm uninstall it first',
      );
    }
    await ensureNamespace(ctx, ctx.config.karpenterNamespace);
    const kwok = await ensureKwok(ctx, { namespace: ctx.config.karpenterNamespace, set: t.kwokSet, timeoutMs: () => remainingMs(ctx, startedAt) });
    const crds = await applyCrds(ctx, dir);
    await applyObject(
      kube,
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: INSTANCE_TYPES_CONFIGMAP, namespace: ctx.config.karpenterNamespace, labels: { [ctx.run.runLabel.key]: ctx.run.runLabel.value } },
        data: { [INSTANCE_TYPES_KEY]: JSON.stringify(ctx.config.instanceTypes) },
      } as k8s.KubernetesObject,
      { signal: ctx.signal },
    );

    const chart = join(dir, 'chart');
    const required = karpenterValues({
      image: build.imageParts,
      pullPolicy: t.pullPolicy,
      featureGates: featureGatesOf(chart),
      labels: { [ctx.run.runLabel.key]: ctx.run.runLabel.value },
    });
    // The user's values (karpenter-values) under the ones the run needs; what they lost is said.
    const { values, overridden } = mergeValues(ctx.config.karpenterValues ?? {}, required);
    if (overridden.length) ctx.warning(`karpenter-values: the action's own value wins for ${overridden.join(', ')} (the run needs it)`);
    const valuesRel = ctx.writeFile('karpenter/values.yaml', `${JSON.stringify(values, null, 2)}\n`);
    ctx.run.helmReleases.push({ namespace: ctx.config.karpenterNamespace, name: KARPENTER_RELEASE });
    ctx.checkpoint();
    const args = helmUpgradeArgs({
      release: KARPENTER_RELEASE,
      chart,
      namespace: ctx.config.karpenterNamespace,
      valuesFile: join(ctx.config.evidenceDir, valuesRel),
      timeoutMs: remainingMs(ctx, startedAt),
      config: ctx.config,
      skipCrds: true,
      // Readiness is checked on the pod below: helm --wait passes a 1-replica Deployment with
      // maxUnavailable 1 with no ready pod.
      wait: false,
    });
    await helm(ctx, args);
    const pod = await waitRunning(ctx);
    const line = await waitReconciling(ctx, pod);
    const image = (pod as k8s.V1Pod).spec?.containers[0]?.image;
    ctx.evidence({
      title: 'Karpenter Helm release',
      command: `helm upgrade --install ${KARPENTER_RELEASE} <chart of ${build.module.path}@${build.module.version}> -n ${ctx.config.karpenterNamespace} -f karpenter/values.yaml --skip-crds; kubectl -n ${ctx.config.karpenterNamespace} get pods -l ${KARPENTER_POD_SELECTOR} -o wide`,
      output: [
        kwok,
        `CRDs: ${crds.join(', ')}`,
        ...(ctx.config.karpenterValuesFile
          ? [`values: ${ctx.config.karpenterValuesFile} merged${overridden.length ? `; the action's value kept for ${overridden.join(', ')}` : ''}`]
          : []),
        `feature gates: ${Object.entries((values.settings as { featureGates: Record<string, boolean> }).featureGates)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`,
        `pod ${pod.metadata?.name} Ready on node ${pod.spec?.nodeName}, image ${image}`,
        `reconciling: ${line.slice(0, 300)}`,
      ].join('\n'),
      files: [valuesRel],
    });
    return `Karpenter ${build.module.version} installed with Helm (${t.mode}): pod ${pod.metadata?.name} Ready and reconciling, image ${image}`;
  }

  return {
    mode: t.mode,
    ownsKarpenter: false,
    usesInstalledNodePool: false,
    installRules: (): PermissionRule[] => [
      ...crdRules(),
      // Helm installs the chart's RBAC, workloads and release secrets; the action watches the pod and reads its log.
      ['get,create,patch,delete', 'rbac.authorization.k8s.io', 'clusterroles'],
      ['get,create,patch,delete', 'rbac.authorization.k8s.io', 'clusterrolebindings'],
      ['get,create,patch,delete', 'rbac.authorization.k8s.io', 'roles'],
      ['get,create,patch,delete', 'rbac.authorization.k8s.io', 'rolebindings'],
      ['get,create,patch,delete', 'apps', 'deployments'],
      ['get,create,patch,delete', '', 'serviceaccounts'],
      ['get,create,patch,delete', '', 'services'],
      ['get,create,patch,delete', '', 'configmaps'],
      ['get,list,create,patch,delete', '', 'secrets'],
      ['get,create', '', 'namespaces'],
      ['list,watch', '', 'pods'],
      ['get', '', 'pods', 'log'],
    ],
    tools: (config) => [
      { desc: KO, version: config.koVersion },
      { desc: HELM, version: config.helmVersion },
    ],
    preflight: (ctx) => t.preflight(ctx),
    build: (ctx) =>
      buildForMode(ctx, {
        mode: t.mode,
        target: t.target(ctx.config),
        koEnv: t.koEnv(ctx.config),
        imageReady: (b, dir) => t.imageReady(ctx, b, dir),
        ...(t.keepImage ? { keepImage: (image: string, dir: string) => t.keepImage!(ctx, image, dir) } : {}),
      }),
    install,
    async diagnose(ctx) {
      const kube = ctx.kube();
      const pods =
        (await kube.core.listNamespacedPod({ namespace: ctx.config.karpenterNamespace, labelSelector: KARPENTER_POD_SELECTOR }).catch(() => undefined))
          ?.items ?? [];
      ctx.diagnostic({
        title: 'Karpenter pods',
        command: `kubectl -n ${ctx.config.karpenterNamespace} get pods -l ${KARPENTER_POD_SELECTOR} -o wide`,
        output: pods.map(describePod).join('\n') || '(none)',
      });
      for (const p of pods) {
        const name = p.metadata!.name!;
        const restarted = (p.status?.containerStatuses ?? []).some((c) => (c.restartCount ?? 0) > 0);
        const log = await kube.core
          .readNamespacedPodLog({ name, namespace: ctx.config.karpenterNamespace, container: 'controller', tailLines: 60, previous: restarted })
          .catch((e: Error) => `(no log: ${e.message})`);
        ctx.diagnostic({
          title: `Karpenter log${restarted ? ' (the container that crashed)' : ''}: ${name}`,
          command: `kubectl -n ${ctx.config.karpenterNamespace} logs ${name} -c controller --tail=60${restarted ? ' --previous' : ''}`,
          output: log || '(empty)',
        });
        const events = await listEvents(kube, ctx.config.karpenterNamespace, { kind: 'Pod', name }).catch(() => []);
        ctx.diagnostic({
          title: `Events of pod ${name}`,
          command: `kubectl -n ${ctx.config.karpenterNamespace} get events --field-selector involvedObject.name=${name}`,
          output: formatEvents(events),
        });
      }
    },
    claimsOrphaned: () => false,
    async remove(run, config, signal) {
      const had = run.helmReleases.some((r) => r.name === KARPENTER_RELEASE);
      const done = await uninstallReleases(run, config, signal);
      if (had) {
        // The instance-types ConfigMap came with the release; removed only when it carries this run's label.
        const kube = connect(config);
        const ref = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: INSTANCE_TYPES_CONFIGMAP, namespace: config.karpenterNamespace } };
        const cm = await readObject(kube, ref);
        if (cm?.metadata?.labels?.[run.runLabel.key] === run.runLabel.value && (await deleteObject(kube, ref)))
          done.push(`ConfigMap ${INSTANCE_TYPES_CONFIGMAP} deleted`);
      }
      return done;
    },
  };
}

function describePod(p: k8s.V1Pod): string {
  const containers = (p.status?.containerStatuses ?? [])
    .map((c) => {
      const st = c.state?.waiting?.reason ?? (c.state?.running ? 'Running' : c.state?.terminated ? `Terminated(${c.state.terminated.exitCode})` : '?');
      const last = c.lastState?.terminated ? `, last exit ${c.lastState.terminated.exitCode} (${c.lastState.terminated.reason})` : '';
      return `${c.name}: ${st}, ready=${c.ready}, restarts ${c.restartCount}${last}`;
    })
    .join('; ');
  return `${p.metadata?.name} ${p.status?.phase} node=${p.spec?.nodeName ?? '-'} ${containers}`;
}

export const kindProvider = helmProvider(KIND);
export const registryProvider = helmProvider(REGISTRY);

// Decisions about an installed Karpenter: is its pod running, crashing or still starting; which
// Deployments and NodePools count. Pure.
import { formatConditions, isTrue, type WithConditions } from './conditions.js';
import { GPU_RESOURCE } from '../manifests.js';

interface ContainerStatusLike {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; terminated?: { exitCode?: number; reason?: string } };
  lastState?: { terminated?: { exitCode?: number; reason?: string; finishedAt?: string | Date } };
}

export interface PodLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: ContainerStatusLike[];
  };
}

export type PodVerdict = { state: 'running' } | { state: 'failed'; reason: string } | { state: 'starting'; detail: string };

/** Waiting reasons that do not cure themselves: the image cannot be had, or the container cannot be made. */
const STUCK = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

/** A refused pull the kubelet tries again after a back-off (ErrImagePull, ImagePullBackOff, ErrImagePull...). */
const PULL_RETRIED = new Set(['ErrImagePull', 'ImagePullBackOff']);

/** Refused pulls per container (namespace/pod/container), counted over the pod states a watch saw in turn. */
export type PullRefusals = ReadonlyMap<string, { reason: string; count: number }>;

const containerKey = (pod: PodLike, container: string) => `${pod.metadata?.namespace}/${pod.metadata?.name}/${container}`;

/**
 * The counts after one more look at the pods: a refusal each time a container enters
 * ErrImagePull (a pull tried and refused), or is first seen already backing off. Looking again
 * at an unchanged state counts nothing. Pure.
 */
export function countPullRefusals(before: PullRefusals, pods: PodLike[]): PullRefusals {
  const after = new Map(before);
  for (const pod of pods) {
    for (const c of pod.status?.containerStatuses ?? []) {
      const reason = c.state?.waiting?.reason;
      const key = containerKey(pod, c.name);
      const prev = before.get(key);
      if (!reason || !PULL_RETRIED.has(reason)) {
        if (prev) after.set(key, { reason: reason ?? 'none', count: prev.count });
        continue;
      }
      const anotherTry = reason === 'ErrImagePull' ? prev?.reason !== 'ErrImagePull' : !prev || !PULL_RETRIED.has(prev.reason);
      after.set(key, { reason, count: (prev?.count ?? 0) + (anotherTry ? 1 : 0) });
    }
  }
  return after;
}

/**
 * Running means Ready (its readiness probe answers). A container that has crashed once, or one
 * stuck on its image or config, fails at once: waiting out the stage would only hide the cause.
 * A refused pull is the exception when the refusals over time are known (`pulls`): it fails at
 * the kubelet's second try. A first refusal can be the kubelet's own race (it pulls before it may
 * read the pod's pull Secret, then retries with it); the same answer twice is the registry's.
 * Without `pulls` (one look, no history) it fails at once.
 */
export function karpenterPodVerdict(pod: PodLike, pulls?: PullRefusals): PodVerdict {
  const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  if (pod.status?.phase === 'Failed') return { state: 'failed', reason: `pod ${name} Failed` };
  for (const c of pod.status?.containerStatuses ?? []) {
    const waiting = c.state?.waiting;
    const refused = pulls?.get(containerKey(pod, c.name))?.count ?? 0;
    if (waiting?.reason && STUCK.has(waiting.reason) && (!pulls || !PULL_RETRIED.has(waiting.reason) || refused >= 2)) {
      const times = pulls && PULL_RETRIED.has(waiting.reason) ? `; pull refused ${refused} times` : '';
      return { state: 'failed', reason: `container ${c.name} of pod ${name}: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}${times}` };
    }
    const last = c.lastState?.terminated ?? c.state?.terminated;
    if ((c.restartCount ?? 0) > 0 || (c.state?.terminated && !c.ready)) {
      return {
        state: 'failed',
        reason: `container ${c.name} of pod ${name} exited${last ? ` with code ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}` : ''}; restarts ${c.restartCount ?? 0}${waiting?.reason ? `, now ${waiting.reason}` : ''}`,
      };
    }
  }
  if (isTrue(pod as WithConditions, 'Ready')) return { state: 'running' };
  // A pull refused once says the registry's answer while the kubelet's next try is awaited.
  const waiting = (pod.status?.containerStatuses ?? []).flatMap((c) => {
    const w = c.state?.waiting;
    if (!w?.reason) return [];
    return PULL_RETRIED.has(w.reason) ? [`${w.reason}, pull refused once, the kubelet tries again${w.message ? `: ${w.message}` : ''}`] : [w.reason];
  });
  return {
    state: 'starting',
    detail: `pod ${name} ${pod.status?.phase ?? 'Pending'}${waiting.length ? ` (${waiting.join(', ')})` : ''}; ${formatConditions(pod as WithConditions)}`,
  };
}

/** The verdict over a Deployment's pods: any running wins; else the first failure; else still starting. Pure. */
export function karpenterPodsVerdict(pods: PodLike[], pulls?: PullRefusals): PodVerdict {
  const verdicts = pods.map((p) => karpenterPodVerdict(p, pulls));
  if (verdicts.some((v) => v.state === 'running')) return { state: 'running' };
  const failed = verdicts.find((v) => v.state === 'failed');
  if (failed) return failed;
  return { state: 'starting', detail: verdicts.map((v) => (v.state === 'starting' ? v.detail : '')).join('; ') || 'no pod yet' };
}

/** The log line that says Karpenter's controllers run (controller-runtime starts its workers after leader election). */
export const RECONCILING_LINE = /Starting workers/;

interface DeploymentLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { replicas?: number };
  status?: { readyReplicas?: number; availableReplicas?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/** A Karpenter Deployment is healthy when Available and at least one replica is ready. */
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

/** NodePools that cap GPUs: the ones a GPU scale-up can use. */
export function gpuNodePools<T extends NodePoolLike>(pools: T[]): T[] {
  return pools.filter((p) => p.spec?.limits?.[GPU_RESOURCE] !== undefined);
}

/** A NodePool whose Ready condition a controller set for its current generation: a Karpenter reconciles it. */
export function reconciled(p: NodePoolLike): boolean {
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'True' && (ready.observedGeneration === undefined || ready.observedGeneration === p.metadata?.generation);
}

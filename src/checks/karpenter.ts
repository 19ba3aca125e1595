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

/**
 * Running means Ready (its readiness probe answers). A container that has crashed once, or one
 * stuck on its image or config, fails at once: waiting out the stage would only hide the cause.
 */
export function karpenterPodVerdict(pod: PodLike): PodVerdict {
  const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  if (pod.status?.phase === 'Failed') return { state: 'failed', reason: `pod ${name} Failed` };
  for (const c of pod.status?.containerStatuses ?? []) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && STUCK.has(waiting.reason)) {
      return { state: 'failed', reason: `container ${c.name} of pod ${name}: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}` };
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
  const waiting = (pod.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.reason).filter(Boolean);
  return {
    state: 'starting',
    detail: `pod ${name} ${pod.status?.phase ?? 'Pending'}${waiting.length ? ` (${waiting.join(', ')})` : ''}; ${formatConditions(pod as WithConditions)}`,
  };
}

/** The verdict over a Deployment's pods: any running wins; else the first failure; else still starting. Pure. */
export function karpenterPodsVerdict(pods: PodLike[]): PodVerdict {
  const verdicts = pods.map(karpenterPodVerdict);
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

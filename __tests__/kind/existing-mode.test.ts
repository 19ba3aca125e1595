// keep-installed, then karpenter-mode existing against the Karpenter it kept: a kind-mode run
// leaves Karpenter, the KWOK controller, the CRDs and the NodePool installed and Ready for later
// steps; a later step (an existing-mode run) passes the chain through that Karpenter, leaving it
// untouched; once it crash-loops, existing mode fails naming the crash. The test then removes
// what was kept, and the cluster is as it was found.
import { execFileSync } from 'node:child_process';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { karpenterPodsVerdict, type PodLike } from '../../src/checks/karpenter.js';
import { KARPENTER_POD_SELECTOR } from '../../src/karpenter/helm.js';
import { deleteObject } from '../../src/kube/apply.js';
import { podsIn } from '../../src/kube/paths.js';
import { watchUntil } from '../../src/kube/watch.js';
import { KARPENTER_RELEASE } from '../../src/tools/helm.js';
import { bin } from '../../testbed/lib/bed.js';
import { runAction } from '../support/harness.js';
import { kindSnapshot, kindSuite } from '../support/kind-suite.js';

const k = kindSuite();
let kept: string[] = [];

/** What keep-installed left, removed as a user's later cleanup would (Helm releases, then the cluster objects). Idempotent. */
async function removeKept(): Promise<void> {
  const refs: Record<string, string> = {
    CustomResourceDefinition: 'apiextensions.k8s.io/v1',
    NodePool: 'karpenter.sh/v1',
    KWOKNodeClass: 'karpenter.kwok.sh/v1alpha1',
    Namespace: 'v1',
  };
  const remove = async (item: string) => {
    const [kind, name] = item.split(' ');
    if (refs[kind!]) await deleteObject(k.kube, { apiVersion: refs[kind!]!, kind: kind!, metadata: { name: name! } }).catch(() => undefined);
  };
  // The NodePool first, while Karpenter can still finalize its nodes; then the releases; then the CRDs.
  for (const item of kept.filter((i) => /^(NodePool|KWOKNodeClass) /.test(i))) await remove(item);
  for (const item of kept) {
    const release = /^Helm release ([^/]+)\/(.+)$/.exec(item);
    if (release)
      execFileSync(bin(k.bed, 'helm'), ['uninstall', release[2]!, '-n', release[1]!, '--wait', '--ignore-not-found', '--kubeconfig', k.kind.kubeconfig]);
  }
  for (const item of [...kept].reverse().filter((i) => /^(CustomResourceDefinition|Namespace) /.test(i))) await remove(item);
  await deleteObject(k.kube, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'karpenter-instance-types', namespace: 'kube-system' } }).catch(
    () => undefined,
  );
  kept = [];
}

afterAll(async () => {
  await removeKept().catch(() => undefined);
});

/** A run of the bundle in existing mode (or what the inputs say), main then post. */
const action = (inputs: Record<string, string>) => runAction(k.action({ 'karpenter-mode': 'existing', ...inputs }).run);
const existing = (inputs: Record<string, string>) => action(inputs);

describe('keep-installed, then karpenter-mode existing, on the kind cluster', () => {
  it('keep-installed leaves Karpenter and the NodePool Ready for later steps, and removes the rest', async () => {
    const r = await action({ 'karpenter-mode': 'kind', 'keep-installed': 'true', 'max-replicas': '2', 'metric-target': '10' });
    if (r.main.code !== 0) console.log(r.main.stdout.slice(-6000));
    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    kept = r.outputs['kept-installed']!.split(', ').filter(Boolean);
    expect(kept).toEqual(expect.arrayContaining(['Helm release kube-system/karpenter', 'NodePool gpu', 'CustomResourceDefinition nodepools.karpenter.sh']));
    expect(r.summary).toContain('Kept installed for later steps');
    expect(r.post.code).toBe(0);
    // After main and post, as a later step sees it: Karpenter's pod Ready, the NodePool Ready, no node or namespace of the run left.
    const pods = (await k.kube.core.listNamespacedPod({ namespace: 'kube-system', labelSelector: KARPENTER_POD_SELECTOR })).items;
    expect(karpenterPodsVerdict(pods as PodLike[]).state).toBe('running');
    const pool = (await k.kube.custom.getClusterCustomObject({ group: 'karpenter.sh', version: 'v1', plural: 'nodepools', name: 'gpu' })) as {
      status?: { conditions?: { type: string; status: string }[] };
    };
    expect(pool.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const now = await kindSnapshot(k.kube);
    expect(now.runNamespaces).toEqual(k.before.runNamespaces);
    expect(now.nodeClaims).toEqual([]);
    expect(now.poolNodes).toEqual([]);
  });

  it('finds the running Karpenter pod, leaves it untouched, and the chain passes through it', async () => {
    const r = await existing({ 'max-replicas': '2', 'metric-target': '10' });
    if (r.main.code !== 0) console.log(r.main.stdout.slice(-6000));
    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    // Still there, same pod, after the run and its post step.
    const dep = await k.kube.apps.readNamespacedDeployment({ name: KARPENTER_RELEASE, namespace: 'kube-system' });
    expect(dep.status?.readyReplicas).toBe(1);
  });

  it('fails karpenter-install when the installed Karpenter crash-loops, naming the crash', async () => {
    // The platform's Karpenter breaks: an invalid setting, as a bad upgrade would bring.
    const ns = 'kube-system';
    execFileSync(bin(k.bed, 'kubectl'), [
      '--kubeconfig',
      k.kind.kubeconfig,
      '-n',
      ns,
      'set',
      'env',
      `deployment/${KARPENTER_RELEASE}`,
      'PREFERENCE_POLICY=Sometimes',
    ]);
    // Until the rollout has replaced the healthy pod with the crashing one (the same verdict the stage reads).
    await watchUntil<k8s.V1Pod, true>(k.kube, {
      path: podsIn(ns),
      labelSelector: KARPENTER_POD_SELECTOR,
      describe: 'the Karpenter pods crash-looping, none Ready',
      signal: AbortSignal.timeout(180_000),
      until: (items) => (karpenterPodsVerdict([...items.values()] as PodLike[]).state === 'failed' ? true : undefined),
    });
    const r = await existing({ stages: 'preflight,karpenter-install,cleanup', timeouts: 'karpenter-install=2m' });
    expect(r.main.code).toBe(1);
    expect(r.outputs['failed-stage']).toBe('karpenter-install');
    expect(r.main.stdout).toMatch(/::error::karpenter-install: Expected (the installed Karpenter to run|a healthy Karpenter Deployment)/);
  });

  it('kept-installed names everything left: removing what it lists leaves the cluster as it was found', async () => {
    for (const item of kept) expect(item).toMatch(/^(Helm release \S+|CustomResourceDefinition \S+|NodePool \S+|KWOKNodeClass \S+|Namespace \S+)$/);
    await removeKept();
    await watchUntil<k8s.KubernetesObject, true>(k.kube, {
      path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      describe: 'the kept CRDs gone',
      signal: AbortSignal.timeout(120_000),
      until: (items) => ([...items.keys()].some((n) => /karpenter|kwok/.test(n) && !k.before.crds.includes(n)) ? undefined : true),
    });
    expect(await kindSnapshot(k.kube)).toEqual(k.before);
  });
});

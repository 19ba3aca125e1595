// karpenter-mode existing against a Karpenter that really runs in the kind cluster (installed
// here by the kind-mode install stages, as a platform team's Helm install would be), then
// against the same Karpenter crash-looping: the stage must fail, naming the crash.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/inputs.js';
import { karpenterPodsVerdict, type PodLike } from '../../src/checks/karpenter.js';
import { KARPENTER_POD_SELECTOR } from '../../src/karpenter/helm.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { podsIn } from '../../src/kube/paths.js';
import { watchUntil } from '../../src/kube/watch.js';
import { runStages } from '../../src/runner.js';
import { cleanupStage } from '../../src/stages/cleanup.js';
import { karpenterBuildStage } from '../../src/stages/karpenter-build.js';
import { karpenterInstallStage } from '../../src/stages/karpenter-install.js';
import { toolsStage } from '../../src/stages/tools.js';
import { KARPENTER_RELEASE } from '../../src/tools/helm.js';
import type { Config, RunState } from '../../src/types.js';
import { bin, loadBed, type Bed } from '../../testbed/lib/bed.js';
import { makeRunnerDirs, runAction } from '../support/harness.js';
import { kindEnv, loadKind, startKindMetrics, type KindCluster, type KindMetrics } from '../support/kind.js';
import { kindToolSources, type KindToolSources } from '../support/kind-tools.js';
import { startResultsService, type ResultsService } from '../support/results-service.js';

let bed: Bed;
let kind: KindCluster;
let kube: Kube;
let metrics: KindMetrics | undefined;
let sources: KindToolSources | undefined;
let service: ResultsService;
let installConfig: Config;
let installed: RunState | undefined;

beforeAll(async () => {
  bed = loadBed();
  kind = loadKind();
  kube = connect({ kubeconfig: kind.kubeconfig });
  service = await startResultsService();
  metrics = await startKindMetrics(bed, kind);
  sources = await kindToolSources(bed);
  Object.assign(process.env, kindEnv(kind));
  const dirs = makeRunnerDirs();
  installConfig = configFrom({
    kubeconfig: kind.kubeconfig,
    'karpenter-mode': 'kind',
    'cluster-name': kind.name,
    ...sources.inputs,
    'run-id': 'platform-install',
    'evidence-dir': path.join(dirs.temp, 'install-evidence'),
    stages: 'tools,karpenter-build,karpenter-install',
  });
  const r = await runStages([toolsStage, karpenterBuildStage, karpenterInstallStage], installConfig);
  installed = r.run;
  expect(r.records.map((x) => `${x.name}:${x.status}`)).toEqual(['tools:pass', 'karpenter-build:pass', 'karpenter-install:pass']);
});

afterAll(async () => {
  if (installed) await runStages([cleanupStage], { ...installConfig, stages: ['cleanup'] }, { run: installed });
  await metrics?.stop();
  await sources?.close();
  await service?.close();
});

function existing(inputs: Record<string, string>) {
  const dirs = makeRunnerDirs();
  return runAction({
    inputs: {
      'karpenter-mode': 'existing',
      'evidence-dir': path.join(dirs.temp, 'evidence'),
      'metric-name': 'dcgm_gpu_power_usage',
      ...inputs,
    },
    toolCache: sources!.toolCache,
    dirs,
    env: { ...service.env, ...kindEnv(kind) },
    echo: process.env.GAC_ECHO === '1',
  });
}

describe('karpenter-mode existing on the kind cluster', () => {
  it('finds the running Karpenter pod, leaves it untouched, and the chain passes through it', async () => {
    const r = await existing({ 'max-replicas': '2', 'metric-target': '10' });
    if (r.main.code !== 0) console.log(r.main.stdout.slice(-6000));
    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    // Still there, same pod, after the run and its post step.
    const dep = await kube.apps.readNamespacedDeployment({ name: KARPENTER_RELEASE, namespace: installConfig.karpenterNamespace });
    expect(dep.status?.readyReplicas).toBe(1);
  });

  it('fails karpenter-install when the installed Karpenter crash-loops, naming the crash', async () => {
    // The platform's Karpenter breaks: an invalid setting, as a bad upgrade would bring.
    const ns = installConfig.karpenterNamespace;
    execFileSync(bin(bed, 'kubectl'), [
      '--kubeconfig',
      kind.kubeconfig,
      '-n',
      ns,
      'set',
      'env',
      `deployment/${KARPENTER_RELEASE}`,
      'PREFERENCE_POLICY=Sometimes',
    ]);
    // Until the rollout has replaced the healthy pod with the crashing one (the same verdict the stage reads).
    await watchUntil<k8s.V1Pod, true>(kube, {
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
});

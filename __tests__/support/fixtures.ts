// A fixed run, with fixed times, for the evidence writers' golden files.
import * as path from 'node:path';
import { configFrom } from '../../src/inputs.js';
import { buildResults, type Results } from '../../src/evidence/model.js';
import { newRunState } from '../../src/state.js';
import type { StageRecord } from '../../src/types.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');

const T0 = Date.parse('2026-11-30T10:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();
const stage = (
  name: StageRecord['name'],
  status: StageRecord['status'],
  from: number,
  to: number,
  message: string,
  extra: Partial<StageRecord> = {},
): StageRecord => ({
  name,
  status,
  message,
  startedAt: iso(from),
  finishedAt: iso(to),
  durationMs: (to - from) * 1000,
  evidence: [],
  diagnostics: [],
  ...extra,
});

export function fixtureResults(failed = false): Results {
  process.env.GAC_ACTION_ROOT = ROOT;
  const config = configFrom({ 'run-id': 'fixture-1', 'evidence-dir': '/tmp/evidence-fixture' }, {});
  const run = newRunState(config);
  run.versions = { kubernetes: 'v1.34.4', karpenter: 'v1.8.0' };
  run.outputs = { hpaDesiredReplicas: 4, nodesProvisioned: failed ? 0 : 4, podsScheduled: failed ? 0 : 4 };
  run.timeline = [
    { event: 'metric-first-seen', at: iso(3), source: 'external.metrics.k8s.io dcgm_gpu_power_usage timestamp', observedAt: iso(3.2) },
    { event: 'hpa-scale-decision', at: iso(20), source: 'HorizontalPodAutoscaler gpu-load .status.lastScaleTime', observedAt: iso(20.4) },
    { event: 'first-pod-unschedulable', at: iso(21), source: 'Pod gpu-load-x PodScheduled=False Unschedulable', observedAt: iso(21.1) },
  ];
  const pvMessage = failed ? 'expected 4 GPU nodes above baseline 0; saw 0 after 5m0s | limit' : '4 NodeClaims initialized: 4 x g5.xlarge (cheapest fit)';
  const stages: StageRecord[] = [
    stage('preflight', 'pass', 0, 1, 'Kubernetes v1.34.4; 24 permissions granted; baseline 0 nodes in NodePool gpu', {
      evidence: [{ title: 'Server version', command: 'kubectl version -o yaml', output: 'gitVersion: v1.34.4' }],
    }),
    stage('tools', 'skip', 1, 1, 'not needed in process mode'),
    stage('karpenter-build', 'pass', 1, 2, 'cache hit: karpenter-kwok 1.8.0 (saved 94.0s)'),
    stage('karpenter-install', 'pass', 2, 3, 'Karpenter v1.8.0 ready (process 4242)'),
    stage('nodepool', 'pass', 3, 3.5, 'NodePool gpu applied'),
    stage('metric', 'pass', 3.5, 4, 'dcgm_gpu_power_usage = 46.2'),
    stage('workload', 'pass', 4, 5, 'Deployment and HPA created'),
    stage('hpa', 'pass', 5, 21, 'desiredReplicas 4 > minReplicas 1 from metric 300'),
    stage('pending', 'pass', 21, 22, '3 pods Unschedulable'),
    failed
      ? stage('provision', 'fail', 22, 322, pvMessage, {
          diagnostics: [{ title: 'NodeClaims', command: 'kubectl get nodeclaims -o wide', output: 'No resources found <none> & "quoted"' }],
        })
      : stage('provision', 'pass', 22, 40, pvMessage),
    stage('schedule', failed ? 'skip' : 'pass', 40, failed ? 40 : 42, failed ? 'not run: stage provision failed' : '4/4 replicas Running'),
    stage('consolidation', failed ? 'skip' : 'pass', 42, failed ? 42 : 80, failed ? 'not run: stage provision failed' : 'back to 0 nodes'),
    stage('cleanup', 'pass', failed ? 322 : 80, failed ? 324 : 82, 'namespace gpu-conformance-fixture-1 deleted'),
  ];
  return buildResults(config, run, stages, '0.1.0', { GITHUB_RUN_ID: '7', GITHUB_REPOSITORY: 'org/repo' });
}

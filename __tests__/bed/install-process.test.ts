// Process mode against the bed: Karpenter's KWOK provider built (or taken from the tool cache),
// started as a child process, ready on its probe; the NodePool applied and Ready; a NodeClaim
// made by hand becomes a KWOK Node with nvidia.com/gpu capacity; existing mode finds this
// Karpenter; a second run skips the build; cleanup leaves no process behind.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, deleteClusterObjects, deleteNamespaces } from '../support/cluster.js';
import { isTrue, type WithConditions } from '../../src/checks/conditions.js';
import { configFrom } from '../../src/inputs.js';
import { deleteObject } from '../../src/kube/apply.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { NODECLAIMS, NODES } from '../../src/kube/paths.js';
import { watchUntil } from '../../src/kube/watch.js';
import { runStages } from '../../src/runner.js';
import { karpenterBuildStage } from '../../src/stages/karpenter-build.js';
import { karpenterInstallStage } from '../../src/stages/karpenter-install.js';
import { nodepoolStage } from '../../src/stages/nodepool.js';
import { toolsStage } from '../../src/stages/tools.js';
import { KARPENTER_BINARY } from '../../src/tools/karpenter.js';
import { privateDir, startKarpenterProcess, stopKarpenterProcess } from '../../src/tools/karpenter-process.js';
import type { RunState } from '../../src/types.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { installEnv } from '../support/install-env.js';

let bed: Bed;
let kube: Kube;
let temp: string;
let run: RunState | undefined;
const runId = `inst-${randomBytes(3).toString('hex')}`;
const STAGES = [toolsStage, karpenterBuildStage, karpenterInstallStage, nodepoolStage];
const inputs = (extra: Record<string, string> = {}) => ({
  kubeconfig: bed.kubeconfig,
  // A context makes the stage write Karpenter a kubeconfig holding only that context.
  context: 'gac-bed',
  'karpenter-mode': 'process',
  'kwok-install': 'skip',
  'run-id': runId,
  'evidence-dir': join(temp, 'evidence'),
  stages: 'tools,karpenter-build,karpenter-install,nodepool',
  ...extra,
});

beforeAll(() => {
  bed = loadBed();
  temp = installEnv();
  kube = connect({ kubeconfig: bed.kubeconfig });
});

// Registered first, so it runs after the cleanup below (hooks run as a stack).
afterAll(() => {
  if (temp) rmSync(temp, { recursive: true, force: true });
});

afterAll(async () => {
  if (!run) return;
  // NodeClaims first, while Karpenter runs (its finalizer removes the Node), then the process, then what the run applied.
  const claims = await kube.custom.listClusterCustomObject({
    group: 'karpenter.sh',
    version: 'v1',
    plural: 'nodeclaims',
    labelSelector: `${run.runLabel.key}=${run.runLabel.value}`,
  });
  for (const c of (claims as { items: k8s.KubernetesObject[] }).items)
    await deleteObject(kube, { apiVersion: 'karpenter.sh/v1', kind: 'NodeClaim', metadata: { name: c.metadata!.name! } });
  await watchUntil(kube, {
    path: NODECLAIMS,
    labelSelector: `${run.runLabel.key}=${run.runLabel.value}`,
    signal: AbortSignal.timeout(120_000),
    describe: 'test NodeClaims gone',
    until: (items) => (items.size === 0 ? true : undefined),
  });
  const pid = run.karpenterPid;
  await stopKarpenterProcess(run);
  if (pid) expect(alive(pid)).toBe(false);
  expect(existsSync(privateDir(run.runId))).toBe(false);
  await deleteClusterObjects(
    kube,
    [...run.appliedClusterObjects].reverse().map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.name } })),
  );
  // The run's namespace (and its Lease), made before its first change to the cluster; the runs of this file share it.
  await deleteNamespaces(kube, [run.namespace]);
});

describe('karpenter-mode process', () => {
  it('builds (or reuses) Karpenter, starts it, and gets the NodePool Ready', async () => {
    const config = configFrom(inputs());
    const result = await runStages(STAGES, config);
    run = result.run;
    for (const r of result.records) console.log(`[figures] first run: ${r.name} ${r.status} ${r.durationMs} ms: ${r.message}`);
    expect(result.records.map((r) => `${r.name}:${r.status}`)).toEqual(['tools:pass', 'karpenter-build:pass', 'karpenter-install:pass', 'nodepool:pass']);
    expect(run.karpenterPid).toBeGreaterThan(0);
    expect(alive(run.karpenterPid!)).toBe(true);
    expect((await fetch(run.karpenterHealthUrl!)).status).toBe(200);
    const kubeconfig = join(privateDir(run.runId), 'kubeconfig');
    expect(statSync(kubeconfig).mode & 0o777).toBe(0o600);
    expect(readFileSync(`/proc/${run.karpenterPid}/environ`, 'utf8').split('\0')).toContain(`KUBECONFIG=${kubeconfig}`);
    expect(run.versions.karpenter).toBe('v1.8.0');
    expect(run.versions['karpenter-module-sum']).toMatch(/^h1:/);
    expect(run.toolPaths.karpenter).toMatch(new RegExp(`/karpenter-kwok/1\\.8\\.0-process\\.g[0-9a-f]{12}/[^/]+/${KARPENTER_BINARY}$`));
    const pool = result.records.find((r) => r.name === 'nodepool')!;
    expect(pool.evidence.find((e) => e.command === 'kubectl get nodepool gpu -o yaml')?.output).toContain('nvidia.com/gpu: 64');
  });

  it('turns a NodeClaim made by hand into a KWOK Node with nvidia.com/gpu capacity', async () => {
    expect(run).toBeDefined();
    const claim = (await kube.custom.createClusterCustomObject({
      group: 'karpenter.sh',
      version: 'v1',
      plural: 'nodeclaims',
      body: {
        apiVersion: 'karpenter.sh/v1',
        kind: 'NodeClaim',
        metadata: { generateName: 'gpu-by-hand-', labels: { 'karpenter.sh/nodepool': 'gpu', [run!.runLabel.key]: run!.runLabel.value } },
        spec: {
          nodeClassRef: { group: 'karpenter.kwok.sh', kind: 'KWOKNodeClass', name: 'default' },
          requirements: [
            { key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['g5.xlarge'] },
            { key: 'karpenter.sh/capacity-type', operator: 'In', values: ['on-demand'] },
          ],
          resources: { requests: { 'nvidia.com/gpu': '1' } },
          taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
        },
      },
    })) as k8s.KubernetesObject;
    const name = claim.metadata!.name!;
    type Claim = k8s.KubernetesObject & WithConditions & { status?: { nodeName?: string } };
    const nodeName = await watchUntil<Claim, string>(kube, {
      path: NODECLAIMS,
      fieldSelector: `metadata.name=${name}`,
      signal: AbortSignal.timeout(120_000),
      describe: `NodeClaim ${name} Initialized`,
      until: (items) => {
        const c = items.get(name);
        return c && isTrue(c, 'Initialized') && c.status?.nodeName ? c.status.nodeName : undefined;
      },
    });
    const node = await watchUntil<k8s.V1Node, k8s.V1Node>(kube, {
      path: NODES,
      fieldSelector: `metadata.name=${nodeName}`,
      signal: AbortSignal.timeout(60_000),
      describe: `Node ${nodeName} Ready`,
      until: (items) => {
        const n = items.get(nodeName);
        return n && isTrue(n as WithConditions, 'Ready') ? n : undefined;
      },
    });
    expect(node.status?.capacity?.['nvidia.com/gpu']).toBe('1');
    expect(node.metadata?.labels?.['node.kubernetes.io/instance-type']).toBe('g5.xlarge');
    expect(node.metadata?.labels?.['karpenter.sh/nodepool']).toBe('gpu');
    expect(node.metadata?.annotations?.['kwok.x-k8s.io/node']).toBe('fake');
    expect(node.spec?.taints?.some((t) => t.key === 'nvidia.com/gpu' && t.effect === 'NoSchedule')).toBe(true);

    await deleteObject(kube, { apiVersion: 'karpenter.sh/v1', kind: 'NodeClaim', metadata: { name } });
    await watchUntil<k8s.V1Node, true>(kube, {
      path: NODES,
      fieldSelector: `metadata.name=${nodeName}`,
      signal: AbortSignal.timeout(120_000),
      describe: `Node ${nodeName} gone`,
      until: (items) => (items.size === 0 ? true : undefined),
    });
  });

  it('existing mode finds this (out-of-cluster) Karpenter through its Ready GPU NodePool', async () => {
    const config = configFrom(inputs({ 'karpenter-mode': 'existing', stages: 'karpenter-install,nodepool' }));
    const result = await runStages([karpenterInstallStage, nodepoolStage], config);
    expect(result.records.map((r) => `${r.name}:${r.status}`)).toEqual(['karpenter-install:pass', 'nodepool:pass']);
    expect(result.records[0]!.message).toContain('GPU NodePool(s): gpu');
    expect(result.records[1]!.evidence.find((e) => e.title === 'Applied')?.output).toContain('exists, used as is');
    expect(result.run.appliedClusterObjects).toEqual([]);
  });

  it('existing mode fails on an unhealthy Karpenter Deployment, showing its status', async () => {
    const ns = `gac-unhealthy-${randomBytes(3).toString('hex')}`;
    await kube.core.createNamespace({ body: { metadata: { name: ns } } });
    try {
      const labels = { 'app.kubernetes.io/name': 'karpenter' };
      await kube.apps.createNamespacedDeployment({
        namespace: ns,
        body: {
          metadata: { name: 'karpenter', labels },
          spec: {
            replicas: 1,
            selector: { matchLabels: labels },
            // No node matches: the replica never becomes ready.
            template: {
              metadata: { labels },
              spec: { nodeSelector: { 'gac-test/nowhere': 'true' }, containers: [{ name: 'controller', image: 'karpenter:none' }] },
            },
          },
        },
      });
      const config = configFrom(inputs({ 'karpenter-mode': 'existing', stages: 'karpenter-install' }));
      const result = await runStages([karpenterInstallStage], config);
      expect(result.records[0]!.status).toBe('fail');
      expect(result.records[0]!.message).toContain(`Expected a healthy Karpenter Deployment with a Ready pod; found ${ns}/karpenter: 0/1 ready`);
    } finally {
      // Gone, not only deleted: the next file's preflight would find its Deployment a foreign Karpenter.
      await deleteNamespaces(kube, [ns]);
    }
  });

  it('a second run on the same tool cache: no build, "cache hit" with the time saved', async () => {
    const config = configFrom(inputs({ stages: 'tools,karpenter-build', 'run-id': `${runId}-2` }));
    const result = await runStages([toolsStage, karpenterBuildStage], config);
    for (const r of result.records) console.log(`[figures] second run: ${r.name} ${r.status} ${r.durationMs} ms: ${r.message}`);
    const build = result.records.find((r) => r.name === 'karpenter-build')!;
    expect(build.status).toBe('pass');
    expect(build.message).toMatch(/^cache hit: /);
    expect(build.evidence[0]!.output).toMatch(/^cache hit in the tool cache: karpenter-kwok 1\.8\.0-process\.g[0-9a-f]{12}, build skipped, time saved ~\d+ s/);
    const entry = result.run.cache.find((c) => c.item.startsWith('karpenter-kwok@'))!;
    expect(entry.hit).toBe(true);
    expect(entry.savedMs).toBeGreaterThan(0);
    expect(result.run.toolPaths.karpenter).toBe(run!.toolPaths.karpenter);
  });

  it('a Karpenter that exits before ready fails at once with its log tail', async () => {
    const logFile = join(temp, 'early-exit.log');
    const never = new AbortController(); // never aborted: only the child's exit can end the wait
    const err = await startKarpenterProcess({
      binary: run!.toolPaths.karpenter!,
      env: { PATH: process.env.PATH, KUBECONFIG: join(temp, 'no-such-kubeconfig'), DISABLE_LEADER_ELECTION: 'true', HEALTH_PROBE_PORT: '1', METRICS_PORT: '2' },
      logFile,
      healthPort: 1,
      signal: never.signal,
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^Karpenter exited with \d+ before it was ready\nlast lines of .*early-exit\.log:\n/);
    expect(never.signal.aborted).toBe(false);
  });
});

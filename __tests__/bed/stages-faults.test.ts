// Failures the checks must name: the metrics adapter down (metric), a NodePool GPU limit below
// the need (provision), Karpenter stopped (provision, with its log tail), consolidation disabled
// (require fails, warn passes with a warning; the same runs check 8 GPUs/pod -> p5.48xlarge).
// Every run must leave nothing behind.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kube } from '../../src/kube/client.js';
import { stopKarpenterProcess } from '../../src/tools/karpenter-process.js';
import { loadBed, setGpuMetrics, startComponent, stopComponent, type Bed } from '../../testbed/lib/bed.js';
import { IDLE } from '../../testbed/dcgm-exporter.js';
import { startApiProxy } from '../support/api-proxy.js';
import { ONE_POD, alive, bedConfig, evidenceOf, expectClean, karpenterPidOf, kubeFor, runChain, stagesNamed, summary, useToolCache } from './stages-lib.js';

let bed: Bed;
let kube: Kube;

beforeAll(async () => {
  bed = loadBed();
  kube = kubeFor(bed);
  useToolCache();
  await setGpuMetrics(bed, { power: 300 });
});

afterAll(async () => {
  if (bed) await setGpuMetrics(bed, IDLE);
});

const ADAPTER = 'prometheus-adapter';

describe('failures', () => {
  it('fails in metric when the metrics adapter is down, with the APIService status in the diagnostics', async () => {
    await stopComponent(bed, ADAPTER);
    try {
      // The adapter stops after preflight saw it Available: the metric stage must catch it.
      const config = bedConfig(bed, { stages: 'metric,cleanup', timeouts: 'metric=15s' });
      const c = await runChain(config);
      const metric = c.record('metric');
      expect(metric.status, summary(c)).toBe('fail');
      expect(metric.message).toContain('Expected external metric dcgm_gpu_power_usage listed by /apis/external.metrics.k8s.io/v1beta1');
      expect(metric.message).toContain('Next:');
      const api = metric.diagnostics.find((d) => d.title === 'External metrics APIService status');
      expect(api?.command).toBe('kubectl get apiservice v1beta1.external.metrics.k8s.io -o yaml');
      expect(api?.output).toMatch(/Available=/);
      expect(metric.diagnostics.map((d) => d.title)).toContain('External metric dcgm_gpu_power_usage (raw answer)');
      await expectClean(kube, c);
    } finally {
      await startComponent(bed, ADAPTER);
    }
  });

  it('fails in provision naming the NodePool GPU limit when it is below the need', async () => {
    const config = bedConfig(bed, { scenario: 'pending-pods', 'max-replicas': '3', 'gpus-per-pod': '1', consolidation: 'skip' }, { gpuLimit: 2 });
    const c = await runChain(config);
    const p = c.record('provision');
    expect(p.status, summary(c)).toBe('fail');
    expect(p.message).toContain('limit nvidia.com/gpu=2 is below');
    expect(p.message).toContain('3 GPUs');
    expect(c.record('schedule').status).toBe('skip');
    await expectClean(kube, c);
  });

  it("fails in provision with Karpenter's log tail when Karpenter is stopped", async () => {
    const config = bedConfig(bed, { scenario: 'pending-pods', timeouts: 'provision=20s' }, {}, ONE_POD);
    const up = await runChain(config, stagesNamed('preflight', 'tools', 'karpenter-build', 'karpenter-install', 'nodepool'));
    expect(
      up.records.every((r) => r.status !== 'fail'),
      summary(up),
    ).toBe(true);
    const pid = karpenterPidOf(up)!;
    await stopKarpenterProcess(up.run);
    expect(alive(pid)).toBe(false);
    const down = await runChain(config, stagesNamed('workload', 'pending', 'provision', 'schedule'), up.run);
    const p = down.record('provision');
    expect(p.status, summary(down)).toBe('fail');
    expect(p.message).toMatch(/^Expected NodeClaims of NodePool .* Initialized .*Last seen: .*Next: check Karpenter is running/s);
    const log = p.diagnostics.find((d) => d.title === 'Karpenter log tail (process)');
    expect(log?.output?.length ?? 0).toBeGreaterThan(0);
    expect(log?.output).not.toMatch(/could not read/);
    expect(p.diagnostics.map((d) => d.title)).toEqual(expect.arrayContaining([`NodeClaims of NodePool ${config.nodePool.name}`, 'Scheduling events']));
    // Karpenter restarted to take its NodePool down, then the usual cleanup.
    const again = await runChain(config, stagesNamed('karpenter-install', 'cleanup'), down.run);
    await expectClean(kube, again, pid);
  });
});

describe('work a stage started, after the stage ended', () => {
  it('a NodePool apply cut off by the nodepool timeout, then committed late by the server, is removed by cleanup', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gac-late-'));
    // The NodePool's apply is held until the action gives up on it, then sent anyway.
    const proxy = await startApiProxy(bed.kubeconfig, dir, (method, path) => method === 'PATCH' && /^\/apis\/karpenter\.sh\/v1\/nodepools\/gpu-/.test(path));
    try {
      // Karpenter's CRDs (and Karpenter) come from the run itself, through the proxy too.
      const config = bedConfig(bed, {
        stages: 'preflight,tools,karpenter-build,karpenter-install,nodepool,cleanup',
        timeouts: 'nodepool=3s',
        kubeconfig: proxy.kubeconfig,
      });
      const c = await runChain(config);
      const late = await proxy.late;
      // The server made the NodePool after the stage had ended: the leak this test is about.
      expect(late.status, summary(c)).toBe(201);
      const np = c.record('nodepool');
      expect(np.status, summary(c)).toBe('fail');
      expect(np.message).toContain(`Expected NodePool ${config.nodePool.name} applied before the stage ended; the request was cut off unanswered`);
      expect(c.record('cleanup').message).toContain(`NodePool/${config.nodePool.name}`);
      await expectClean(kube, c);
    } finally {
      await proxy.close();
    }
  });
});

describe('consolidation disabled (consolidateAfter: Never), 8 GPUs per pod', () => {
  it('require with a NodePool that never consolidates is refused before anything runs, naming the setting', () => {
    // Was a wait of the whole consolidation timeout, then a failure that did not name the cause.
    expect(() =>
      bedConfig(
        bed,
        { scenario: 'pending-pods', 'gpus-per-pod': '8', consolidation: 'require', timeouts: 'consolidation=25s' },
        { consolidateAfter: 'Never' },
        ONE_POD,
      ),
    ).toThrow(
      /input "nodepool": .* spec.disruption.consolidateAfter: Never: Karpenter never consolidates the nodes of this NodePool, so consolidation: require cannot pass/,
    );
  });

  it('warn passes with a warning', async () => {
    const config = bedConfig(
      bed,
      { scenario: 'pending-pods', 'gpus-per-pod': '8', consolidation: 'warn', timeouts: 'consolidation=20s' },
      { consolidateAfter: 'Never' },
      ONE_POD,
    );
    const c = await runChain(config);
    const cons = c.record('consolidation');
    expect(cons.status, summary(c)).toBe('pass');
    expect(cons.message).toContain('accepted because consolidation: warn');
    expect(evidenceOf(cons, 'Warning: pool not back to baseline (consolidation: warn)')).toContain('1 node(s) in the pool');
    await expectClean(kube, c);
  });
});

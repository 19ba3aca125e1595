// The bundle end to end against the test bed, Karpenter in process mode: main then post, as a
// runner runs the step. Each case checks the outputs, the evidence, the uploaded artifact and
// that the cluster is left as it was found.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Results } from '../../src/evidence/model.js';
import { STAGE_NAMES } from '../../src/types.js';
import { loadBed, startComponent, stopComponent, type Bed } from '../../testbed/lib/bed.js';
import { alive, bedKube, snapshot, type ClusterSnapshot } from '../support/cluster.js';
import { karpenterPidsOf, makeRunnerDirs, ROOT, runAction, type ActionResult } from '../support/harness.js';
import { sha256, startResultsService, type ResultsService } from '../support/results-service.js';

const cache = process.env.GAC_CACHE ?? path.join(process.env.HOME ?? '/tmp', '.cache', 'gpu-autoscaling-conformance');
const toolCache = path.join(cache, 'toolcache');
const ajv = new Ajv2020.default({ allErrors: true });
addFormats.default(ajv);
const validateResults = ajv.compile(JSON.parse(fs.readFileSync(path.join(ROOT, 'schema/results.schema.json'), 'utf8')) as object);

let bed: Bed;
let service: ResultsService;
let before: ClusterSnapshot;

beforeAll(async () => {
  bed = loadBed();
  service = await startResultsService();
  before = await snapshot(bedKube(bed.kubeconfig));
});
afterAll(async () => {
  await service?.close();
});

async function run(inputs: Record<string, string>): Promise<ActionResult & { results: Results; evidenceDir: string }> {
  const dirs = makeRunnerDirs();
  const evidenceDir = path.join(dirs.temp, 'evidence');
  const r = await runAction({
    inputs: { kubeconfig: bed.kubeconfig, 'karpenter-mode': 'process', 'evidence-dir': evidenceDir, ...inputs },
    toolCache,
    dirs,
    env: service.env,
  });
  if (r.main.code !== 0) console.log(r.main.stdout.slice(-6000));
  const results = JSON.parse(fs.readFileSync(path.join(evidenceDir, 'results.json'), 'utf8')) as Results;
  return { ...r, results, evidenceDir };
}

/** The cluster holds nothing of the run, and the Karpenter process it started (if it got that far) is gone. */
async function expectLeftAsFound(r: ActionResult, startedKarpenter = true): Promise<void> {
  expect(r.post.code).toBe(0);
  expect(await snapshot(bedKube(bed.kubeconfig))).toEqual(before);
  const pids = karpenterPidsOf(r.dirs);
  expect(pids.length > 0).toBe(startedKarpenter);
  for (const pid of pids) expect(alive(pid), `Karpenter pid ${pid}`).toBe(false);
}

/** The artifact that reached the stand-in: the evidence files, byte for byte, and its hash. */
function expectArtifactMatches(evidenceDir: string, artifactId: string): string[] {
  const artifact = service.artifacts.find((a) => String(a.id) === artifactId)!;
  expect(artifact.finalizeRequest).toMatchObject({ hash: `sha256:${sha256(artifact.blob!)}` });
  const zip = path.join(path.dirname(evidenceDir), 'artifact.zip');
  fs.writeFileSync(zip, artifact.blob!);
  const names = execFileSync('unzip', ['-Z1', zip], { encoding: 'utf8' }).trim().split('\n').sort();
  for (const name of names) expect(sha256(execFileSync('unzip', ['-p', zip, name]))).toBe(sha256(fs.readFileSync(path.join(evidenceDir, name))));
  return names;
}

describe('process mode, end to end', () => {
  it('metric scenario: the whole chain passes, with outputs, evidence, artifact and a clean cluster', async () => {
    const r = await run({ 'max-replicas': '3', 'metric-target': '10' });
    expect(r.main.code).toBe(0);
    expect(r.outputs).toMatchObject({ result: 'pass', 'failed-stage': '', 'evidence-dir': r.evidenceDir });
    expect(validateResults(r.results)).toBe(true);
    // Outputs agree with results.json.
    expect(r.results.run.result).toBe('pass');
    expect(Number(r.outputs['hpa-desired-replicas'])).toBe(r.results.outputs.hpaDesiredReplicas);
    expect(Number(r.outputs['nodes-provisioned'])).toBe(r.results.outputs.nodesProvisioned);
    expect(Number(r.outputs['pods-scheduled'])).toBe(r.results.outputs.podsScheduled);
    expect(r.results.outputs.hpaDesiredReplicas).toBe(3);
    expect(r.results.outputs.podsScheduled).toBe(3);
    expect(r.results.outputs.nodesProvisioned).toBeGreaterThanOrEqual(1);
    const timings = JSON.parse(r.outputs.timings!) as Record<string, number>;
    expect(Object.keys(timings)).toEqual(r.results.stages.filter((s) => s.status !== 'skip').map((s) => s.name));
    expect(r.results.stages.filter((s) => s.status === 'fail')).toEqual([]);
    for (const name of STAGE_NAMES) {
      expect(r.results.stages.find((s) => s.name === name)?.status, name).toBe('pass');
    }
    // The timeline runs from the metric to the last node gone, in the cluster's own time.
    const events = r.results.timeline.map((t) => t.event);
    for (const e of [
      'metric-first-seen',
      'hpa-scale-decision',
      'first-pod-unschedulable',
      'nodeclaim-created',
      'node-ready',
      'last-pod-running',
      'last-node-gone',
    ]) {
      expect(events, e).toContain(e);
    }
    // The job summary a person reads.
    expect(r.summary).toContain('## GPU autoscaling conformance: PASS');
    expect(r.summary).toContain('| provision | ✅ pass |');
    expect(r.summary).toContain('```mermaid');
    expect(r.summary).toContain('| nodeclaim-created |');
    // The artifact holds the evidence and the component logs.
    const names = expectArtifactMatches(r.evidenceDir, r.outputs['artifact-id']!);
    expect(names).toEqual(expect.arrayContaining(['results.json', 'junit.xml', 'ctrf.json', 'cluster-autoscaling.md']));
    expect(names.some((n) => n.endsWith('.log'))).toBe(true);
    await expectLeftAsFound(r);
  });

  it('a second run on the same tool cache builds nothing', async () => {
    const r = await run({ scenario: 'pending-pods', stages: 'preflight,karpenter-build,karpenter-install,cleanup' });
    expect(r.main.code).toBe(0);
    const build = r.results.cache.filter((c) => c.item.startsWith('karpenter'));
    expect(build.length).toBeGreaterThan(0);
    expect(build.every((c) => c.hit)).toBe(true);
    expect(r.results.cache.reduce((n, c) => n + (c.bytesDownloaded ?? 0), 0)).toBe(0);
    expect(r.main.stdout).toContain('cache hit');
    await expectLeftAsFound(r);
  });

  it('pending-pods scenario: Karpenter provisions for pods scaled straight to max-replicas', async () => {
    const r = await run({ scenario: 'pending-pods', 'max-replicas': '2' });
    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    expect(r.results.stages.find((s) => s.name === 'metric')!.status).toBe('skip');
    expect(r.results.stages.find((s) => s.name === 'hpa')!.status).toBe('skip');
    expect(r.results.outputs.podsScheduled).toBe(2);
    expect(r.results.requirement).toEqual({ id: 'cluster_autoscaling', also: [] });
    await expectLeftAsFound(r);
  });

  it('a failing run (prometheus-adapter stopped) exits 1 naming the stage, with summary and artifact, and post cleans up', async () => {
    await stopComponent(bed, 'prometheus-adapter');
    try {
      const r = await run({ timeouts: 'preflight=20s,metric=20s' });
      expect(r.main.code).toBe(1);
      expect(['preflight', 'metric']).toContain(r.outputs['failed-stage']);
      const failed = r.results.stages.find((s) => s.status === 'fail')!;
      expect(r.main.stdout).toContain(`::error::${failed.name}: `);
      expect(failed.diagnostics.map((d) => d.title).join('\n')).toMatch(/APIService/);
      expect(r.summary).toContain('## GPU autoscaling conformance: FAIL');
      expect(expectArtifactMatches(r.evidenceDir, r.outputs['artifact-id']!)).toContain('results.json');
      // Which stage sees the adapter gone first is a race with the aggregator's availability check:
      // failed in preflight, the run started no Karpenter.
      await expectLeftAsFound(r, r.outputs['failed-stage'] === 'metric');
    } finally {
      await startComponent(bed, 'prometheus-adapter');
    }
  });
});

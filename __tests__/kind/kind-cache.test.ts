// kind mode's build across jobs, as on a GitHub-hosted runner: every job is a fresh VM with an
// empty tool cache and a new kind cluster, and only the Actions cache (here its loopback stand-in,
// speaking the real protocol to the real @actions/cache client) carries anything over. Job 1 builds
// Karpenter's image with ko and saves the build with the image as an archive; job 2, on a brand-new
// runner directory and a cluster whose node does not hold the image, restores the build, loads the
// archive into the node and runs Karpenter from it, without a ko build.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Results } from '../../src/evidence/model.js';
import { startCacheService, type CacheService } from '../support/cache-service.js';
import { runAction } from '../support/harness.js';
import { kindSnapshot, kindSuite } from '../support/kind-suite.js';

const k = kindSuite();
let cache: CacheService;
const toolCache = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gac-hosted-')), 'toolcache');
beforeAll(async () => {
  cache = await startCacheService({ forward: k.results.url });
});
afterAll(async () => {
  await cache?.close();
  fs.rmSync(path.dirname(toolCache), { recursive: true, force: true });
});

const docker = process.env.GAC_DOCKER ?? '/usr/bin/docker';
const nodeImages = (): string[] =>
  execFileSync(docker, ['exec', k.kind.nodeContainer, 'ctr', '-n', 'k8s.io', 'images', 'ls', '-q'], { encoding: 'utf8' }).split('\n').filter(Boolean);

/** One job: a brand-new runner directory (empty tool cache), the Actions cache stand-in, stages up to a running Karpenter. */
async function job(): Promise<{ stdout: string; results: Results; code: number }> {
  // The Actions cache's env replaces the artifact stand-in's (both live at ACTIONS_RESULTS_URL); it forwards the artifact calls.
  const { run, evidenceDir } = k.action({ stages: 'preflight,tools,karpenter-build,karpenter-install,cleanup' }, cache.env);
  // The same path each job, emptied, as a hosted runner's /opt/hostedtoolcache is (the cache version hashes the paths).
  fs.rmSync(toolCache, { recursive: true, force: true });
  fs.mkdirSync(toolCache, { recursive: true });
  const r = await runAction({ ...run, toolCache });
  if (r.main.code !== 0) console.log(r.main.stdout.slice(-6000));
  const results = JSON.parse(fs.readFileSync(path.join(evidenceDir, 'results.json'), 'utf8')) as Results;
  for (const s of results.stages) console.log(`[figures] kind-cache: ${s.name} ${s.status} ${s.durationMs} ms: ${s.message.slice(0, 200)}`);
  return { stdout: r.main.stdout, results, code: r.main.code ?? -1 };
}

const stage = (r: { results: Results }, name: string) => r.results.stages.find((s) => s.name === name)!;

describe('kind mode across jobs with the Actions cache', () => {
  it('job 2 on a fresh runner and a node without the image restores the build, loads its archive and runs Karpenter without a ko build', async () => {
    const job1 = await job();
    expect(job1.code).toBe(0);
    const built = job1.results.cache.find((c) => c.item.startsWith('karpenter-kwok@'))!;
    expect(built).toMatchObject({ hit: false, source: 'built', actionsCache: { saved: true } });
    expect(job1.stdout).toMatch(/ko build -B/);
    const image = job1.results.versions['karpenter-image']!;
    expect(image).toMatch(/^kind\.local\/kwok:[0-9a-f]{64}$/);
    const entry = cache.entries.find((e) => e.finalized && e.key === built.actionsCache!.key)!;
    // The archive travels in the entry: far larger than the chart and CRDs alone.
    expect(entry.sizeBytes).toBeGreaterThan(10 * 1024 * 1024);

    // A new cluster holds no image of this build.
    execFileSync(docker, ['exec', k.kind.nodeContainer, 'ctr', '-n', 'k8s.io', 'images', 'rm', image]);
    expect(nodeImages()).not.toContain(image);

    const job2 = await job();
    expect(job2.code).toBe(0);
    expect(job2.results.cache.find((c) => c.item === built.item)).toMatchObject({ hit: true, source: 'actions-cache' });
    expect(job2.stdout).not.toMatch(/ko build -B/);
    expect(job2.stdout).toContain(`loaded ${image} from the build's archive into ${k.kind.nodeContainer}`);
    expect(stage(job2, 'karpenter-build').message).toMatch(/^cache hit: Karpenter v1\.8\.0 \(kind\) from the Actions cache/);
    // Karpenter ran from the loaded image: its pod was Ready and its controllers started.
    const release = stage(job2, 'karpenter-install').evidence.find((e) => e.title === 'Karpenter Helm release')!.output;
    expect(release).toContain(`image ${image}`);
    expect(release).toMatch(/reconciling: .*Starting workers/);
    expect(nodeImages()).toContain(image);
    expect(job2.stdout).not.toContain('artifact upload failed');
    expect(await kindSnapshot(k.kube)).toEqual(k.before);
  });
});

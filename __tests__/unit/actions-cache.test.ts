import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tc from '@actions/tool-cache';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cacheTable, renderEvidenceMarkdown, renderSummary } from '../../src/evidence/markdown.js';
import { configFrom, readConfig } from '../../src/inputs.js';
import { actionsCacheFor } from '../../src/karpenter/build.js';
import type { StageContext } from '../../src/stages/stage.js';
import { actionsCacheLine } from '../../src/stages/tools.js';
import { type ActionsCacheOptions, actionsCacheKey, restoreToToolCache, saveFromToolCache } from '../../src/tools/actions-cache.js';
import { KO } from '../../src/tools/catalog.js';
import { installTool } from '../../src/tools/installer.js';
import { buildKarpenter, KARPENTER_TOOL, usableBuild } from '../../src/tools/karpenter.js';
import type { CacheFact } from '../../src/types.js';
import { startCacheService, type CacheService } from '../support/cache-service.js';
import { fixtureResults, ROOT } from '../support/fixtures.js';
import { startMirror, type Mirror } from '../support/mirror.js';

// The Actions cache end to end: the real @actions/cache client (real tar and zstd, real HTTP)
// against a loopback stand-in of the version-2 cache service. A "job" is a brand-new runner
// directory (empty tool cache, temp and workspace) at the same paths, as a hosted runner's fresh
// VM is; only the cache service survives from one job to the next.
const p = { os: 'linux', arch: 'amd64' } as const;
const env = { ...process.env };
const runnerRoot = mkdtempSync(join(tmpdir(), 'gac-runner-'));
let mirror: Mirror;
let service: CacheService;

/** A fresh runner: empty tool cache, temp and workspace, with the cache service's env. */
function newJob(cacheEnv: Record<string, string> = service.env): void {
  rmSync(runnerRoot, { recursive: true, force: true });
  for (const d of ['toolcache', 'temp', 'work']) mkdirSync(join(runnerRoot, d), { recursive: true });
  process.env = { ...env, ...cacheEnv };
  for (const k of ['ACTIONS_CACHE_URL', 'GITHUB_SERVER_URL', 'ACTIONS_CACHE_MODE']) delete process.env[k];
  if (!cacheEnv.ACTIONS_RESULTS_URL) delete process.env.ACTIONS_RESULTS_URL;
  process.env.RUNNER_TOOL_CACHE = join(runnerRoot, 'toolcache');
  process.env.RUNNER_TEMP = join(runnerRoot, 'temp');
  process.env.GITHUB_WORKSPACE = join(runnerRoot, 'work');
}

function recorder(): ActionsCacheOptions & { logs: string[]; warnings: string[] } {
  const logs: string[] = [];
  const warnings: string[] = [];
  return { enabled: true, logs, warnings, log: (m) => logs.push(m), warn: (m) => warnings.push(m) };
}

function script(name: string, out: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'gac-bin-')), name);
  writeFileSync(file, `#!/bin/sh\necho ${out}\n`, { mode: 0o755 });
  return file;
}

/**
 * A stand-in go: answers `go env` and `go mod download -json` from a prepared module dir, and
 * `go build -o <out>` with a 300 KB executable; every invocation is appended to its log.
 */
function standInGo(): { go: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gac-go-'));
  const mod = join(dir, 'mod');
  mkdirSync(join(mod, 'kwok/charts/crds'), { recursive: true });
  mkdirSync(join(mod, 'kwok/apis/crds'), { recursive: true });
  writeFileSync(join(mod, 'kwok/charts/crds/karpenter.sh_nodepools.yaml'), 'kind: CustomResourceDefinition\n');
  writeFileSync(join(mod, 'kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml'), 'kind: CustomResourceDefinition\n');
  const log = join(dir, 'go.log');
  const go = join(dir, 'go');
  writeFileSync(
    go,
    [
      '#!/bin/sh',
      `echo "$*" >> ${log}`,
      'case "$1" in',
      "  env) printf 'go1.25.0\\nlinux\\namd64\\n' ;;",
      `  mod) echo '{"Path":"sigs.k8s.io/karpenter","Version":"v1.8.0","Dir":"${mod}","Sum":"h1:abc="}' ;;`,
      '  build) while [ $# -gt 0 ]; do [ "$1" = "-o" ] && out="$2"; shift; done',
      '    printf \'#!/bin/sh\\necho karpenter-kwok\\n\' > "$out"; head -c 300000 /dev/urandom >> "$out"; chmod +x "$out" ;;',
      'esac',
    ].join('\n'),
  );
  chmodSync(go, 0o755);
  return { go, log };
}

const goCalls = (log: string, verb: string) =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith(verb)).length
    : 0;

beforeAll(async () => {
  mirror = await startMirror([{ desc: KO, version: '0.18.1', binary: script('ko', '0.18.1') }], p);
});
afterAll(async () => {
  await mirror.close();
  process.env = env;
  rmSync(runnerRoot, { recursive: true, force: true });
});
beforeEach(async () => {
  service = await startCacheService();
});
afterEach(async () => {
  await service.close();
  process.env = { ...env };
});

describe('ko and Helm through the Actions cache', () => {
  it('job 1 downloads and saves; job 2 on a fresh runner restores it and downloads nothing', async () => {
    newJob();
    const job1 = recorder();
    const first = await installTool(KO, 'v0.18.1', { mirror: mirror.url, platform: p, log: () => undefined, actionsCache: job1 });
    expect(first.source).toBe('download');
    expect(first.actionsCacheSave?.saved).toBe(true);
    expect(job1.warnings).toEqual([]);
    const key = actionsCacheKey('ko', '0.18.1', 'linux/amd64');
    const entry = service.entries.find((e) => e.key === key);
    expect(entry?.finalized).toBe(true);
    expect(service.archive(entry!)!.length).toBe(entry!.sizeBytes);
    expect(service.requests).toEqual(['POST GetCacheEntryDownloadURL', 'POST CreateCacheEntry', 'PUT blob', 'POST FinalizeCacheEntryUpload']);

    newJob();
    const downloads = mirror.requests.length;
    const job2 = recorder();
    const second = await installTool(KO, 'v0.18.1', { mirror: mirror.url, platform: p, log: () => undefined, actionsCache: job2 });
    expect(second.source).toBe('actions-cache');
    expect(mirror.requests.length).toBe(downloads);
    expect(second.bytes).toBeGreaterThan(0);
    expect(execFileSync(second.binary, [], { encoding: 'utf8' }).trim()).toBe('0.18.1');
    // Restored into the tool cache: the rest of the job finds it there.
    expect(tc.find('ko', '0.18.1')).toBe(second.dir);
    expect(service.requests.slice(-2)).toEqual(['POST GetCacheEntryDownloadURL', 'GET blob']);
    console.log(`ko restore: ${second.bytes} bytes in ${second.ms} ms (archive ${entry!.sizeBytes} bytes)`);
  });

  it('a closed cache service costs a warning, and the install goes on from the download', async () => {
    newJob();
    await service.close();
    const job = recorder();
    const t = await installTool(KO, 'v0.18.1', { mirror: mirror.url, platform: p, log: () => undefined, actionsCache: job });
    expect(t.source).toBe('download');
    expect(t.actionsCacheSave?.saved).toBe(false);
    expect(job.warnings.join('\n')).toMatch(/could not restore ko 0\.18\.1 .*it cost/);
    expect(job.warnings.join('\n')).toMatch(/ko 0\.18\.1 not saved under key .*it cost .*download it again/);
    expect(execFileSync(t.binary, [], { encoding: 'utf8' }).trim()).toBe('0.18.1');
  });

  it('a cache service answering 500 costs a warning (after its retries), and the install goes on', { timeout: 180_000 }, async () => {
    newJob();
    service.failWith = 500;
    const job = recorder();
    const t = await installTool(KO, 'v0.18.1', { mirror: mirror.url, platform: p, log: () => undefined, actionsCache: job });
    expect(t.source).toBe('download');
    expect(job.warnings.join('\n')).toMatch(/could not restore ko 0\.18\.1 .*500/);
    expect(job.warnings.join('\n')).toMatch(/not saved under key/);
    expect(service.requests.every((r) => r.startsWith('POST'))).toBe(true);
  });

  it('an entry that exists already (another job saved the key first) is a warning, not a failure', async () => {
    newJob();
    const t = await installTool(KO, 'v0.18.1', { mirror: mirror.url, platform: p, log: () => undefined, actionsCache: recorder() });
    const job = recorder();
    const again = await saveFromToolCache('ko 0.18.1', t.dir, t.actionsCacheKey!, job, 'download it again');
    expect(again?.saved).toBe(false);
    expect(job.warnings.join('\n')).toMatch(/ko 0\.18\.1 not saved under key .*another job may be creating this cache.*it cost/);
    expect(service.entries.filter((e) => e.key === t.actionsCacheKey)).toHaveLength(1);
  });
});

describe('the Karpenter build through the Actions cache', () => {
  it('job 1 builds and saves; job 2 on a fresh runner restores it and runs no go build; a truncated archive is rebuilt', async () => {
    const { go, log } = standInGo();
    newJob();
    const job1 = recorder();
    const first = await buildKarpenter({ go, karpenterVersion: 'v1.8.0', mode: 'process', log: () => undefined, actionsCache: job1 });
    expect(first.source).toBe('built');
    expect(first.actionsCacheSave?.saved).toBe(true);
    expect(goCalls(log, 'build')).toBe(1);
    const entry = service.entries.find((e) => e.key === first.actionsCacheKey);
    expect(entry?.finalized).toBe(true);
    expect(entry?.key).toMatch(new RegExp(`^gpu-autoscaling-conformance-${KARPENTER_TOOL}-1\\.8\\.0-process\\.g[0-9a-f]{12}-linux-amd64$`));

    newJob();
    const job2 = recorder();
    const second = await buildKarpenter({ go, karpenterVersion: 'v1.8.0', mode: 'process', log: () => undefined, actionsCache: job2 });
    expect(second.source).toBe('actions-cache');
    expect(second.hit).toBe(true);
    expect(goCalls(log, 'build')).toBe(1);
    expect(goCalls(log, 'mod')).toBe(1);
    expect(job2.warnings).toEqual([]);
    expect(second.build.builtAt).toBe(first.build.builtAt);
    expect(readFileSync(join(second.dir, second.build.binary!))).toEqual(readFileSync(join(first.dir, first.build.binary!)));
    expect(second.savedMs).toBe(Math.max(0, first.build.buildMs - second.restoreMs!));
    console.log(
      `Karpenter build restore: ${second.bytes} bytes in ${second.restoreMs} ms (archive ${entry!.sizeBytes} bytes), build ${first.build.buildMs} ms`,
    );

    newJob();
    service.truncateTo = 1000;
    const job3 = recorder();
    const third = await buildKarpenter({ go, karpenterVersion: 'v1.8.0', mode: 'process', log: () => undefined, actionsCache: job3 });
    expect(third.source).toBe('built');
    expect(goCalls(log, 'build')).toBe(2);
    expect(job3.warnings.join('\n')).toMatch(/could not restore Karpenter build .*it cost/);
  });

  it('a restored entry whose binary is damaged is not used', async () => {
    const { go } = standInGo();
    newJob();
    const built = await buildKarpenter({ go, karpenterVersion: 'v1.8.0', mode: 'process', log: () => undefined, actionsCache: recorder() });
    writeFileSync(join(built.dir, built.build.binary!), '#!/bin/sh\n');
    expect(usableBuild(built.dir, built.build.cacheVersion)).toBeUndefined();
    const r = await restoreToToolCache('x', join(runnerRoot, 'elsewhere'), 'no-such-key', () => true, recorder());
    expect(r.status).toBe('miss');
  });
});

describe('the cache input', () => {
  it('defaults to true; anything but true or false is an error naming the input and what is accepted', () => {
    expect(configFrom({}).cache).toBe(true);
    expect(configFrom({ cache: 'false' }).cache).toBe(false);
    expect(readConfig((n) => (n === 'cache' ? 'sometimes' : '')).errors).toContain('input "cache": "sometimes" is not a boolean; accepted: true or false');
  });

  it('cache: false sends no request to the cache service, for tools or the build', async () => {
    const { go, log } = standInGo();
    newJob();
    const ctx = { config: configFrom({ cache: 'false' }), info: () => undefined, warning: () => undefined } as unknown as StageContext;
    const options = actionsCacheFor(ctx);
    expect(options).toBeUndefined();
    expect(actionsCacheLine(false)).toMatch(/off \(cache: false\)/);
    const t = await installTool(KO, 'v0.18.1', { mirror: mirror.url, platform: p, log: () => undefined, actionsCache: options });
    const b = await buildKarpenter({ go, karpenterVersion: 'v1.8.0', mode: 'process', log: () => undefined, actionsCache: options });
    expect([t.source, b.source]).toEqual(['download', 'built']);
    expect(goCalls(log, 'build')).toBe(1);
    expect(service.requests).toEqual([]);
  });

  it('off a runner (no cache service URL) the tools stage says so once, and nothing is asked', async () => {
    newJob({});
    expect(actionsCacheLine(true)).toMatch(/not available here/);
    const r = await restoreToToolCache('ko', join(runnerRoot, 'toolcache', 'ko'), 'k', () => true, recorder());
    expect(r.status).toBe('off');
    expect(service.requests).toEqual([]);
  });
});

describe('cache facts in the evidence', () => {
  const facts: CacheFact[] = [
    {
      item: 'ko@0.18.1',
      hit: true,
      source: 'actions-cache',
      bytes: 12_582_912,
      ms: 840,
      actionsCache: { key: 'gpu-autoscaling-conformance-ko-0.18.1-linux-amd64' },
    },
    {
      item: 'helm@3.19.5',
      hit: false,
      source: 'downloaded',
      bytes: 58_720_256,
      ms: 2100,
      bytesDownloaded: 17_000_000,
      actionsCache: { key: 'k', saved: false, saveMs: 310 },
    },
    {
      item: 'karpenter-kwok@1.8.0-process.gabc',
      hit: true,
      source: 'actions-cache',
      bytes: 70_000_000,
      ms: 2500,
      savedMs: 147_500,
      actionsCache: { key: 'k2' },
    },
  ];

  it('results.json with the sources, sizes and times is valid against the published schema', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schema/results.schema.json'), 'utf8')) as object;
    const ajv = new Ajv2020.default({ allErrors: true });
    addFormats.default(ajv);
    const validate = ajv.compile(schema);
    const results = { ...fixtureResults(), cache: facts };
    expect(validate(JSON.parse(JSON.stringify(results))), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(JSON.parse(JSON.stringify({ ...results, cache: [{ ...facts[0], source: 'somewhere' }] })))).toBe(false);
  });

  it('the job summary and the evidence file show where each came from, its size and the time taken and saved', () => {
    const r = { ...fixtureResults(), cache: facts };
    const table = cacheTable(r);
    expect(table).toContain('| ko@0.18.1 | Actions cache | 12.0 MiB | 0.8s |  |  |');
    expect(table).toContain('| helm@3.19.5 | downloaded | 56.0 MiB | 2.1s |  | not saved |');
    expect(table).toContain('| karpenter-kwok@1.8.0-process.gabc | Actions cache | 66.8 MiB | 2.5s | 2m28s |  |');
    expect(renderSummary(r)).toContain(`### Tools and build\n\n${table}`);
    expect(renderEvidenceMarkdown(r, '2026-11-30T10:01:30.000Z')).toContain(`## Tools and build\n\n${table}`);
    // A run without cache facts (existing mode) shows no such section.
    expect(renderSummary(fixtureResults())).not.toContain('Tools and build');
  });
});

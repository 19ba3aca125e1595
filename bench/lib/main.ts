// The benchmark: detection latency and overhead over repeated runs, a polling baseline, the
// tool cache's effect, and cost as the scale grows. Writes bench/results.json and the figures
// into docs/benchmarks.md. Exits non-zero only when it could not run.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { installEnv, sharedToolCache } from '../../__tests__/support/install-env.js';
import { startCacheService } from '../../__tests__/support/cache-service.js';
import { startResultsService } from '../../__tests__/support/results-service.js';
import { loadBed } from '../../testbed/lib/bed.js';
import { runBundle, cpuSeconds, rssMiB, type ActionSample } from './action.js';
import { checksWallMs, overhead, stageDurations, stageLatencies } from './analyze.js';
import { scaleFiles } from './fixtures.js';
import type { Results } from '../../src/evidence/model.js';
import { dirBytes } from '../../src/tools/actions-cache.js';
import { machine } from './machine.js';
import { pollingBaseline } from './polling.js';
import { renderReport, writeReport, type BenchResults, type RunFigures } from './report.js';
import { summarize } from './stats.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BUNDLE = path.join(ROOT, 'dist', 'index.js');

function options() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      scales: { type: 'string', default: '4,32,128' },
      'poll-interval': { type: 'string', default: '10' },
      'skip-polling': { type: 'boolean', default: false },
      'skip-cache': { type: 'boolean', default: false },
      'cold-go': { type: 'boolean', default: false },
      build: { type: 'boolean', default: false },
      'no-docs': { type: 'boolean', default: false },
      reanalyze: { type: 'string' },
    },
  });
  const scales = values.scales
    .split(',')
    .filter(Boolean)
    .map((s) => Number(s));
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 0 || scales.some((s) => !Number.isInteger(s) || s < 1))
    throw new Error(
      'usage: node bench/run.ts [--runs N] [--scales 4,32,128] [--poll-interval 10] [--skip-polling] [--skip-cache] [--cold-go] [--build] [--no-docs]',
    );
  return { ...values, runs, scales, pollIntervalS: Number(values['poll-interval']) };
}

/** Builds the bundle when asked or missing; warns when src/ is newer than it. */
function ensureBundle(build: boolean): void {
  const newestSrc = () =>
    Math.max(
      ...fs
        .readdirSync(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile())
        .map((d) => fs.statSync(path.join(d.parentPath, d.name)).mtimeMs),
    );
  if (build || !fs.existsSync(BUNDLE)) {
    console.log('building the bundle (npm run build)');
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm run build failed');
  } else if (fs.statSync(BUNDLE).mtimeMs < newestSrc()) {
    console.warn('warning: dist/index.js is older than src/: pass --build to measure the current source');
  }
}

export function figures(s: ActionSample): RunFigures {
  const r = s.results;
  const o = r ? overhead(r, s.main.start, s.main.end) : undefined;
  return {
    label: s.label,
    // A phase that runs a stages subset (the cache phase) ends inconclusive, not pass: both are fine here.
    ok: s.main.code === 0 && r !== undefined && r.run.result !== 'fail',
    result: r?.run.result ?? 'no results.json',
    failedStage: r?.run.failedStage ?? null,
    mainWallMs: s.main.end - s.main.start,
    postWallMs: s.post.end - s.post.start,
    overhead: o,
    checksWallMs: r ? checksWallMs(r) : undefined,
    latencies: r ? stageLatencies(r) : [],
    stageMs: r ? stageDurations(r) : {},
    cache: r?.cache ?? [],
    maxRssMiB: rssMiB(s.main),
    cpuS: cpuSeconds(s.main),
    postMaxRssMiB: rssMiB(s.post),
    postCpuS: cpuSeconds(s.post),
    api: s.main.api?.total,
    postApi: s.post.api?.total,
    apiByKind: s.main.api?.byKind ?? {},
    nodes: r?.outputs.nodesProvisioned ?? null,
    pods: r?.outputs.podsScheduled ?? null,
    failureLog: s.failureLog,
  };
}

/** Recomputes the per-run figures that come from results.json alone, from a bench's work dir; rewrites the outputs. */
function reanalyze(workDir: string, noDocs: boolean): number {
  const file = path.join(ROOT, 'bench', 'results.json');
  const out = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResults;
  const all = [...out.runs, ...out.scale, ...(out.cache ? [out.cache.cold, out.cache.warm].filter((r): r is RunFigures => !!r) : [])];
  for (const f of all) {
    const rf = path.join(workDir, f.label, 'evidence', 'results.json');
    if (fs.existsSync(rf)) f.latencies = stageLatencies(JSON.parse(fs.readFileSync(rf, 'utf8')) as Results);
  }
  fs.writeFileSync(file, `${JSON.stringify(out, null, 1)}\n`);
  if (!noDocs) writeReport(path.join(ROOT, 'docs', 'benchmarks.md'), renderReport(out));
  return 0;
}

export async function main(argv0: string): Promise<number> {
  const opts = options();
  if (opts.reanalyze) return reanalyze(opts.reanalyze, opts['no-docs']);
  const startedAt = new Date();
  let bed;
  try {
    bed = loadBed();
    ensureBundle(opts.build);
  } catch (e) {
    console.error(`bench: cannot run: ${(e as Error).message}`);
    return 2;
  }
  installEnv();
  const toolCache = sharedToolCache();
  const workDir = path.join(ROOT, '.tmp', 'bench', startedAt.toISOString().replace(/[:.]/g, '-'));
  fs.mkdirSync(workDir, { recursive: true });
  const service = await startResultsService();
  const base = { kubeconfig: bed.kubeconfig, 'karpenter-mode': 'process' };
  const out: BenchResults = {
    schema: 'gac-bench/1',
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    command: `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(),
    machine: machine(),
    bedVersions: bed.versions,
    options: {
      runs: opts.runs,
      scales: opts.scales,
      pollIntervalS: opts.pollIntervalS,
      polling: !opts['skip-polling'],
      cache: !opts['skip-cache'],
      coldGo: opts['cold-go'],
    },
    runs: [],
    scale: [],
    problems: [],
  };
  const save = () => {
    out.finishedAt = new Date().toISOString();
    fs.writeFileSync(path.join(ROOT, 'bench', 'results.json'), `${JSON.stringify(out, null, 1)}\n`);
    if (!opts['no-docs']) writeReport(path.join(ROOT, 'docs', 'benchmarks.md'), renderReport(out));
  };
  const phase = async (name: string, f: () => Promise<void>) => {
    const t = Date.now();
    console.log(`\n=== bench: ${name} (${((t - startedAt.getTime()) / 60000).toFixed(1)} min in)`);
    try {
      await f();
    } catch (e) {
      out.problems.push(`${name}: ${(e as Error).stack ?? e}`);
      console.error(`bench: ${name} failed: ${(e as Error).message}`);
    }
    console.log(`=== bench: ${name} took ${((Date.now() - t) / 1000).toFixed(0)} s`);
    save();
  };
  const action = (label: string, inputs: Record<string, string>, cache = toolCache, env: Record<string, string> = {}) =>
    runBundle({ label, inputs: { ...base, ...inputs }, toolCache: cache, workDir, env: { ...service.env, ...env } }).then((s) => {
      const f = figures(s);
      if (!f.ok) out.problems.push(`${label}: ${f.result}${f.failedStage ? ` at ${f.failedStage}` : ''} (evidence ${s.evidenceDir})`);
      console.log(
        `  ${label}: ${f.result} in ${(f.mainWallMs / 1000).toFixed(1)} s, ${f.api ?? '?'} API requests, ${f.maxRssMiB?.toFixed(0) ?? '?'} MiB peak RSS`,
      );
      return f;
    });

  try {
    if (!opts['skip-cache'])
      await phase('cache: cold, warm tool cache, then a fresh runner with the Actions cache', async () => {
        const runnerRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'gac-bench-runner-'));
        // One path for every job, as a hosted runner's tool cache is: the Actions cache's version hashes the paths.
        const toolCache = path.join(runnerRoot, 'toolcache');
        fs.mkdirSync(toolCache);
        const freshGo = (): Record<string, string> => ({
          GOMODCACHE: fs.mkdtempSync(path.join(runnerRoot, 'gomod-')),
          GOCACHE: fs.mkdtempSync(path.join(runnerRoot, 'gocache-')),
        });
        const goEnv: Record<string, string> = opts['cold-go'] ? freshGo() : {};
        // The Actions cache stand-in; the artifact calls go on to the results stand-in.
        const actionsCache = await startCacheService({ forward: service.url });
        const stages = { stages: 'preflight,tools,karpenter-build,karpenter-install,cleanup' };
        try {
          out.cache = { cold: await action('cache-cold', stages, toolCache, { ...goEnv, ...actionsCache.env }) };
          // What `go mod download` fetched into the empty module cache: the zips, .mod and .info files.
          if (goEnv.GOMODCACHE) out.cache.goDownloadBytes = dirBytes(path.join(goEnv.GOMODCACHE, 'cache', 'download'));
          out.cache.warm = await action('cache-warm', stages, toolCache, actionsCache.env);
          // A new job on a hosted runner: empty tool cache at the same path, empty Go caches; only the Actions cache is left.
          fs.rmSync(toolCache, { recursive: true, force: true });
          fs.mkdirSync(toolCache);
          const hostedGo = freshGo();
          out.cache.actions = await action('cache-actions', stages, toolCache, { ...hostedGo, ...actionsCache.env });
          out.cache.actionsGoBytes = dirBytes(hostedGo.GOMODCACHE!) + dirBytes(hostedGo.GOCACHE!);
          out.cache.actionsRequests = actionsCache.requests.length;
        } finally {
          await actionsCache.close();
          spawnSync('chmod', ['-R', 'u+w', runnerRoot]); // Go's module cache is read-only
          fs.rmSync(runnerRoot, { recursive: true, force: true });
        }
      });

    await phase(`latency: ${opts.runs} run(s) of the default metric scenario`, async () => {
      for (let i = 1; i <= opts.runs; i++) out.runs.push(await action(`metric-${i}`, {}));
    });

    if (!opts['skip-polling'])
      await phase(`polling baseline (kubectl get + sleep ${opts.pollIntervalS} s)`, async () => {
        const actionChecks = summarize(out.runs.filter((r) => r.ok).map((r) => r.checksWallMs));
        const b = await pollingBaseline(bed, base, { intervalS: opts.pollIntervalS, workDir });
        out.polling = { ...b, actionChecksWallMs: actionChecks, ratio: b.checksWallMs && actionChecks ? b.checksWallMs / actionChecks.median : undefined };
        if (!b.ok) out.problems.push(`polling baseline: ${b.error}`);
      });

    if (opts.scales.length)
      await phase(`scale: pending-pods at ${opts.scales.join(', ')} replicas`, async () => {
        const files = scaleFiles(workDir, Math.max(...opts.scales) + 8);
        for (const n of opts.scales) {
          const f = await action(`scale-${n}`, {
            scenario: 'pending-pods',
            'max-replicas': String(n),
            nodepool: files.nodepool,
            'instance-types': files.instanceTypes,
            timeouts: 'provision=15m,schedule=15m,consolidation=15m,cleanup=10m',
          });
          out.scale.push({ replicas: n, ...f });
        }
      });
  } finally {
    await service.close();
    save();
  }
  console.log(
    `\nbench: done in ${((Date.now() - startedAt.getTime()) / 60000).toFixed(1)} min; bench/results.json${opts['no-docs'] ? '' : ' and docs/benchmarks.md'} written (${argv0})`,
  );
  if (out.problems.length) console.log(`problems:\n- ${out.problems.join('\n- ')}`);
  return 0;
}

// One run of the bundled action as a runner runs it (the e2e harness: main, then post), with
// its wall time, the process's own resource usage (bench/probe.mjs) and the API requests it
// made (src/kube/requests.ts, GAC_API_COUNT_FILE).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeRunnerDirs, runPost, startMain } from '../../__tests__/support/harness.js';
import type { Results } from '../../src/evidence/model.js';
import { API_COUNT_FILE_ENV } from '../../src/kube/requests.js';

const PROBE = path.join(import.meta.dirname, '..', 'probe.mjs');

export interface ProcessUsage {
  pid: number;
  code: number;
  uptimeMs: number;
  maxRssKb: number;
  userCpuMs: number;
  systemCpuMs: number;
}

export interface ApiCount {
  pid: number;
  total: number;
  byKind: Record<string, number>;
}

export interface StepSample {
  code: number | null;
  /** Epoch ms: spawned, and closed. */
  start: number;
  end: number;
  usage?: ProcessUsage;
  api?: ApiCount;
}

export interface ActionSample {
  label: string;
  inputs: Record<string, string>;
  main: StepSample;
  post: StepSample;
  results?: Results;
  evidenceDir: string;
  /** The tail of main's log when it failed. */
  failureLog?: string;
}

const readLines = <T>(file: string): T[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as T)
    : [];

export async function runBundle(o: {
  label: string;
  inputs: Record<string, string>;
  toolCache: string;
  workDir: string;
  env?: Record<string, string>;
}): Promise<ActionSample> {
  const base = path.join(o.workDir, o.label.replace(/[^a-z0-9.-]+/gi, '-'));
  fs.mkdirSync(base, { recursive: true });
  const dirs = makeRunnerDirs(base);
  const evidenceDir = path.join(base, 'evidence');
  const usageFile = path.join(base, 'usage.jsonl');
  const apiFile = path.join(base, 'api.jsonl');
  const run = {
    inputs: { ...o.inputs, 'evidence-dir': evidenceDir },
    toolCache: o.toolCache,
    dirs,
    env: { NODE_OPTIONS: `--import=${PROBE}`, GAC_BENCH_PROBE_FILE: usageFile, [API_COUNT_FILE_ENV]: apiFile, ...o.env },
  };
  const mainStart = Date.now();
  const { step } = startMain(run);
  const main = await step.done;
  const mainEnd = Date.now();
  const post = await runPost(run, dirs);
  const postEnd = Date.now();

  const usage = readLines<ProcessUsage>(usageFile);
  const api = readLines<ApiCount>(apiFile);
  const mainPid = step.child.pid;
  const step_ = (code: number | null, start: number, end: number, pick: (pid?: number) => boolean): StepSample => ({
    code,
    start,
    end,
    usage: usage.find((u) => pick(u.pid)),
    api: api.find((a) => pick(a.pid)),
  });
  const resultsFile = path.join(evidenceDir, 'results.json');
  return {
    label: o.label,
    inputs: run.inputs,
    main: step_(main.code, mainStart, mainEnd, (pid) => pid === mainPid),
    // post is the other process that reported
    post: step_(post.code, mainEnd, postEnd, (pid) => pid !== mainPid),
    results: fs.existsSync(resultsFile) ? (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as Results) : undefined,
    evidenceDir,
    failureLog: main.code === 0 ? undefined : main.stdout.slice(-4000),
  };
}

/** Peak RSS in MiB and CPU seconds of a step, when the probe reported. */
export const rssMiB = (s: StepSample): number | undefined => (s.usage ? s.usage.maxRssKb / 1024 : undefined);
export const cpuSeconds = (s: StepSample): number | undefined => (s.usage ? (s.usage.userCpuMs + s.usage.systemCpuMs) / 1000 : undefined);

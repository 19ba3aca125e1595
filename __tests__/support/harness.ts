// Runs the committed bundle exactly as a GitHub runner does: `node dist/index.js` for main with
// INPUT_* (defaults from action.yml), the runner's env and command files; then again as the
// post step with STATE_* read back from the GITHUB_STATE file.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { readCommandFile, stateEnvFromFile } from './runner-state.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
const BUNDLE = path.join(ROOT, 'dist', 'index.js');

export interface StepResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunnerDirs {
  temp: string;
  workspace: string;
  files: { output: string; state: string; summary: string; env: string; path: string };
}

/** What a runner derives from action.yml: INPUT_<NAME> with defaults for unset inputs. */
export function inputEnv(inputs: Record<string, string>): Record<string, string> {
  const action = parse(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: string }> };
  const unknown = Object.keys(inputs).filter((k) => !(k in action.inputs));
  if (unknown.length) throw new Error(`not inputs of action.yml: ${unknown.join(', ')}`);
  return Object.fromEntries(
    Object.entries(action.inputs).map(([name, spec]) => [`INPUT_${name.replace(/ /g, '_').toUpperCase()}`, inputs[name] ?? spec.default ?? '']),
  );
}

/** Parses a GITHUB_OUTPUT / GITHUB_STATE file (key=value lines and key<<DELIM heredocs): each name's last value. */
export function parseCommandFile(text: string): Record<string, string> {
  return readCommandFile(text).values;
}

/**
 * Every Karpenter pid main saved at any checkpoint: cleanup clears the last saved one, so the
 * last value alone cannot show that a process was started and then stopped.
 */
export function karpenterPidsOf(dirs: RunnerDirs): number[] {
  const state = fs.readFileSync(dirs.files.state, 'utf8');
  return [...new Set([...state.matchAll(/"karpenterPid":(\d+)/g)].map((m) => Number(m[1])))];
}

export function makeRunnerDirs(base = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-'))): RunnerDirs {
  const dirs: RunnerDirs = {
    temp: path.join(base, 'temp'),
    workspace: path.join(base, 'workspace'),
    files: {
      output: path.join(base, 'files', 'output'),
      state: path.join(base, 'files', 'state'),
      summary: path.join(base, 'files', 'summary.md'),
      env: path.join(base, 'files', 'env'),
      path: path.join(base, 'files', 'path'),
    },
  };
  for (const d of [dirs.temp, dirs.workspace, path.dirname(dirs.files.output)]) fs.mkdirSync(d, { recursive: true });
  for (const f of Object.values(dirs.files)) fs.writeFileSync(f, '');
  return dirs;
}

export interface ActionRun {
  inputs: Record<string, string>;
  /** Kept between runs of one test to show cache hits. */
  toolCache: string;
  dirs?: RunnerDirs;
  /** Extra env (ACTIONS_RUNTIME_TOKEN/ACTIONS_RESULTS_URL of the stand-in, PATH...). */
  env?: Record<string, string>;
  /** Copy the steps' output to this process's stdout/stderr as it comes (scripts/run-local.ts). */
  echo?: boolean;
}

function runnerEnv(run: ActionRun, dirs: RunnerDirs): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'GOPATH', 'GOMODCACHE', 'GOCACHE', 'GOPROXY', 'GOFLAGS', 'GAC_CACHE', 'LANG'];
  return {
    ...Object.fromEntries(keep.filter((k) => process.env[k]).map((k) => [k, process.env[k]!])),
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_JOB: 'conformance',
    GITHUB_REPOSITORY: 'example/gpu-pipeline',
    GITHUB_WORKSPACE: dirs.workspace,
    RUNNER_TEMP: dirs.temp,
    RUNNER_TOOL_CACHE: run.toolCache,
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: os.arch() === 'arm64' ? 'ARM64' : 'X64',
    GITHUB_OUTPUT: dirs.files.output,
    GITHUB_STATE: dirs.files.state,
    GITHUB_STEP_SUMMARY: dirs.files.summary,
    GITHUB_ENV: dirs.files.env,
    GITHUB_PATH: dirs.files.path,
    ...inputEnv(run.inputs),
    ...run.env,
  };
}

export interface Step {
  child: ChildProcess;
  done: Promise<StepResult>;
}

function startStep(env: NodeJS.ProcessEnv, echo = false): Step {
  const child = spawn(process.execPath, [BUNDLE], { env, cwd: env.GITHUB_WORKSPACE, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => ((stdout += d.toString()), echo && process.stdout.write(d)));
  child.stderr!.on('data', (d: Buffer) => ((stderr += d.toString()), echo && process.stderr.write(d)));
  const done = new Promise<StepResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Starts main; the caller may signal it (cancel) before awaiting. */
export function startMain(run: ActionRun): { step: Step; dirs: RunnerDirs } {
  const dirs = run.dirs ?? makeRunnerDirs();
  return { step: startStep(runnerEnv(run, dirs), run.echo), dirs };
}

/**
 * The post step, with STATE_* from what main saved, as the runner does; like the runner's spawn,
 * it fails with E2BIG when one of them is 128 KiB or more (src/state.ts keeps them small).
 */
export function runPost(run: ActionRun, dirs: RunnerDirs): Promise<StepResult> {
  const stateEnv = stateEnvFromFile(dirs.files.state);
  // Post gets fresh command files, as the runner gives each step its own.
  fs.writeFileSync(dirs.files.output, '');
  return startStep({ ...runnerEnv(run, dirs), ...stateEnv }, run.echo).done;
}

export interface ActionResult {
  main: StepResult;
  post: StepResult;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
  dirs: RunnerDirs;
}

/** main then post, as a job runs the step. */
export async function runAction(run: ActionRun): Promise<ActionResult> {
  const { step, dirs } = startMain(run);
  const main = await step.done;
  const outputs = parseCommandFile(fs.readFileSync(dirs.files.output, 'utf8'));
  const state = parseCommandFile(fs.readFileSync(dirs.files.state, 'utf8'));
  const post = await runPost(run, dirs);
  return { main, post, outputs, state, summary: fs.readFileSync(dirs.files.summary, 'utf8'), dirs };
}

// How the GitHub runner hands main's saved state to the post step, for unit tests (main and post
// called in this process) and for the e2e harness (the bundle run as a child process): it reads
// the GITHUB_STATE file (`name=value` lines and `name<<delimiter` heredocs, the last value of a
// name winning), and starts post with one environment variable STATE_<name> per value. Linux
// refuses to start a process with any single environment string of 128 KiB or more
// (MAX_ARG_STRLEN, 32 pages, the terminating NUL included): the spawn fails with E2BIG, and the
// post step never runs. The refusal is made here exactly as the kernel makes it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';

/** MAX_ARG_STRLEN on Linux: one "name=value" string plus its NUL must be below this. */
export const MAX_ENV_STRING = 128 * 1024;

/** The values of a GITHUB_STATE / GITHUB_OUTPUT file, each name's last value, and how often each was written. */
export function readCommandFile(text: string): { values: Record<string, string>; writes: Record<string, number> } {
  const values: Record<string, string> = {};
  const writes: Record<string, number> = {};
  const lines = text.split('\n');
  const put = (k: string, v: string) => {
    values[k] = v;
    writes[k] = (writes[k] ?? 0) + 1;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, key, delim] = heredoc;
      const value: string[] = [];
      while (++i < lines.length && lines[i] !== delim) value.push(lines[i]!);
      if (i >= lines.length) throw new Error(`heredoc ${key} has no closing delimiter ${delim}`);
      put(key!, value.join('\n'));
    } else if (line.includes('=')) {
      put(line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1));
    }
  }
  return { values, writes };
}

/** An error like the one spawn gives when an environment string is too long. */
export class E2BigError extends Error {
  readonly code = 'E2BIG';
  readonly errno = -7;
  constructor(
    readonly variable: string,
    readonly bytes: number,
  ) {
    super(`spawn E2BIG: environment string ${variable}=... is ${bytes} bytes; Linux refuses any of ${MAX_ENV_STRING} bytes or more`);
    this.name = 'E2BigError';
  }
}

/** Refuses, like execve, an environment holding a string of MAX_ENV_STRING bytes or more (with its NUL). */
export function checkEnvStrings(env: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    const bytes = Buffer.byteLength(`${k}=${v}`) + 1;
    if (bytes >= MAX_ENV_STRING) throw new E2BigError(k, bytes);
  }
}

/** STATE_<name> for every value main saved, as the runner builds post's environment; throws E2BigError as its spawn would. */
export function stateEnvFromFile(stateFile: string): Record<string, string> {
  const { values } = readCommandFile(fs.readFileSync(stateFile, 'utf8'));
  const env = Object.fromEntries(Object.entries(values).map(([k, v]) => [`STATE_${k}`, v]));
  checkEnvStrings(env);
  return env;
}

/** The runner's command files for one step, in a fresh temp dir. */
export interface StepFiles {
  dir: string;
  state: string;
  output: string;
  summary: string;
}

export function makeStepFiles(): StepFiles {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'step-'));
  const files = { dir, state: path.join(dir, 'state'), output: path.join(dir, 'output'), summary: path.join(dir, 'summary.md') };
  for (const f of [files.state, files.output, files.summary]) fs.writeFileSync(f, '');
  return files;
}

/** INPUT_<NAME> as the runner sets it (core.getInput reads these). */
export const inputVars = (inputs: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.replace(/ /g, '_').toUpperCase()}`, v]));

/**
 * Runs `fn` in this process with `vars` set (undefined deletes) and every other INPUT_ / STATE_ /
 * runner variable removed, then puts process.env back. For main and post called in a test.
 */
export async function withStepEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T> | T): Promise<T> {
  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) {
    if (/^(INPUT_|STATE_|GITHUB_(OUTPUT|STATE|STEP_SUMMARY|ENV|PATH)$|ACTIONS_)/.test(k)) delete process.env[k];
  }
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const exitCode = process.exitCode;
  // core.summary keeps the GITHUB_STEP_SUMMARY path of its first write: a new step starts without it.
  (core.summary as unknown as { _filePath?: string })._filePath = undefined;
  core.summary.emptyBuffer();
  try {
    return await fn();
  } finally {
    process.env = saved;
    // core.setFailed sets process.exitCode; the test reads what it needs from the output.
    process.exitCode = exitCode;
  }
}

/** The post step as the runner starts it: STATE_* from main's state file (refused at 128 KiB like execve), the same inputs. */
export function asPostStep<T>(
  files: StepFiles,
  inputs: Record<string, string>,
  fn: () => Promise<T> | T,
  extra: Record<string, string | undefined> = {},
): Promise<T> {
  const stateEnv = stateEnvFromFile(files.state);
  // Post gets fresh command files, as the runner gives each step its own.
  fs.writeFileSync(files.output, '');
  return withStepEnv(
    { ...inputVars(inputs), ...stateEnv, GITHUB_STATE: files.state, GITHUB_OUTPUT: files.output, GITHUB_STEP_SUMMARY: files.summary, ...extra },
    fn,
  );
}

/** Captures what the step prints (workflow commands go to stdout) while `fn` runs. */
export async function captureStdout<T>(fn: () => Promise<T>): Promise<{ value: T; stdout: string }> {
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  try {
    return { value: await fn(), stdout };
  } finally {
    process.stdout.write = write;
  }
}

/** A GPU instance types file of `n` types (Karpenter KWOK's format), each offered in three zones and two capacity types. */
export function gpuInstanceTypesFile(n: number, dir = fs.mkdtempSync(path.join(os.tmpdir(), 'types-'))): string {
  const zones = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
  const types = Array.from({ length: n }, (_, i) => {
    const gpus = [1, 2, 4, 8][i % 4]!;
    return {
      name: `gpu-test-${i}.${gpus}x`,
      offerings: zones.flatMap((zone) =>
        ['on-demand', 'spot'].map((capacity) => ({
          Price: 1 + i / 100,
          Available: true,
          Requirements: [
            { key: 'karpenter.sh/capacity-type', operator: 'In', values: [capacity] },
            { key: 'topology.kubernetes.io/zone', operator: 'In', values: [zone] },
          ],
        })),
      ),
      architecture: 'amd64',
      operatingSystems: ['linux'],
      resources: { cpu: String(4 * gpus), memory: `${16 * gpus}Gi`, pods: '110', 'nvidia.com/gpu': String(gpus) },
    };
  });
  const file = path.join(dir, `instance-types-${n}.json`);
  fs.writeFileSync(file, JSON.stringify(types, null, 2));
  return file;
}

/** The runner's cancel of a step: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that (each only while the process still runs). */
export const RUNNER_CANCEL = { sigtermAfterMs: 7500, sigkillAfterMs: 2500 } as const;

/**
 * Cancels a child step exactly as the runner does; resolves with the signals sent once the child
 * has exited. `onSignal` runs right after each signal is sent (a test looks at the evidence then).
 */
export async function cancelLikeRunner(
  child: import('node:child_process').ChildProcess,
  onSignal: (sig: NodeJS.Signals) => void = () => undefined,
): Promise<NodeJS.Signals[]> {
  const sent: NodeJS.Signals[] = [];
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const send = (sig: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    sent.push(sig);
    onSignal(sig);
  };
  const after = (ms: number) => Promise.race([new Promise<'time'>((r) => setTimeout(() => r('time'), ms)), exited.then(() => 'exited' as const)]);
  send('SIGINT');
  if ((await after(RUNNER_CANCEL.sigtermAfterMs)) === 'time') send('SIGTERM');
  if ((await after(RUNNER_CANCEL.sigkillAfterMs)) === 'time') send('SIGKILL');
  await exited;
  return sent;
}

/** A step of the action run from src/ (not dist/) as a child process, with real signals: Node strips the types. */
export interface SrcStep {
  child: import('node:child_process').ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Resolves with the first stdout line matching `re` (rejects if the step ends first). */
  line(re: RegExp): Promise<string>;
}

export async function startSrcStep(env: Record<string, string | undefined>): Promise<SrcStep> {
  const { spawn } = await import('node:child_process');
  const root = path.resolve(import.meta.dirname, '../..');
  const register = path.join(import.meta.dirname, 'src-run', 'register.mjs');
  // GAC_RECORD_WRITES: keep every version of one file the step writes (src-run/record-writes.mjs).
  const record = env.GAC_RECORD_WRITES ? ['--import', path.join(import.meta.dirname, 'src-run', 'record-writes.mjs')] : [];
  const child = spawn(
    process.execPath,
    ['--experimental-transform-types', '--no-warnings', '--import', register, ...record, path.join(root, 'src', 'index.ts')],
    {
      env: env as NodeJS.ProcessEnv,
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const w of [...waiters]) {
      const hit = stdout.split('\n').find((l) => w.re.test(l));
      if (hit !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(hit);
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      for (const w of waiters.splice(0))
        w.reject(new Error(`the step ended before printing a line matching ${w.re}:\n${stdout.slice(-2000)}${stderr.slice(-2000)}`));
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return {
    child,
    done,
    line: (re) =>
      new Promise((resolve, reject) => {
        const hit = stdout.split('\n').find((l) => re.test(l));
        if (hit !== undefined) resolve(hit);
        else waiters.push({ re, resolve, reject });
      }),
  };
}

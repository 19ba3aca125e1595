import { spawn } from 'node:child_process';
import { scrubbedEnv } from './child-env.js';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  /** Called with each line of output as it arrives (progress in the log). */
  onLine?: (line: string) => void;
  /** Resolve (with the code) instead of rejecting when the program exits non-zero. */
  allowFailure?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** The last `n` lines of a text, for error messages. */
export function tail(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/**
 * Runs a program with an argument array (never through a shell, so inputs cannot inject
 * commands); resolves with its output, rejects naming the command and its stderr tail when it
 * exits non-zero, cannot start, or the signal aborts it.
 */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      // Never the runner's tokens or command files (src/tools/child-env.ts).
      env: scrubbedEnv(opts.env ?? process.env),
      cwd: opts.cwd,
      signal: opts.signal,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const lines = (chunk: string) => {
      if (opts.onLine) for (const l of chunk.split('\n')) if (l.trim()) opts.onLine(l);
    };
    child.stdout.setEncoding('utf8').on('data', (c: string) => ((stdout += c), lines(c)));
    child.stderr.setEncoding('utf8').on('data', (c: string) => ((stderr += c), lines(c)));
    const shown = [file, ...args].join(' ');
    child.on('error', (err) => reject(new Error(`${shown}: ${err.message}`)));
    child.on('close', (code, sig) => {
      if (code === 0 || (opts.allowFailure && code !== null)) resolve({ stdout, stderr, code: code ?? 0 });
      else reject(new Error(`${shown} exited with ${code ?? sig}${stderr.trim() ? `:\n${tail(stderr, 30)}` : ''}`));
    });
  });
}

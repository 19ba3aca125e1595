import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { scrubbedEnv } from './child-env.js';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  /** Called with each line of output as it arrives (progress in the log). */
  onLine?: (line: string) => void;
  /** Resolve (with the code) instead of rejecting when the program exits non-zero. */
  allowFailure?: boolean;
  /** A file fed to the program's stdin (an image archive, say). */
  stdinFile?: string;
  /** A file the program's stdout goes to, as bytes, instead of the result's text. */
  stdoutFile?: string;
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
      stdio: [opts.stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    // A program that exits before reading all its input closes the pipe: its exit code says why, not EPIPE.
    if (opts.stdinFile)
      createReadStream(opts.stdinFile)
        .on('error', () => child.kill())
        .pipe(child.stdin!)
        .on('error', () => undefined);
    const written = opts.stdoutFile ? createWriteStream(opts.stdoutFile) : undefined;
    let stdout = '';
    let stderr = '';
    const lines = (chunk: string) => {
      if (opts.onLine) for (const l of chunk.split('\n')) if (l.trim()) opts.onLine(l);
    };
    if (written) child.stdout!.pipe(written);
    else child.stdout!.setEncoding('utf8').on('data', (c: string) => ((stdout += c), lines(c)));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => ((stderr += c), lines(c)));
    const shown = [file, ...args].join(' ');
    child.on('error', (err) => reject(new Error(`${shown}: ${err.message}`)));
    child.on('close', async (code, sig) => {
      // The file is complete only once its stream has flushed.
      if (written && !written.closed) await new Promise<void>((r) => written.once('close', () => r()));
      if (code === 0 || (opts.allowFailure && code !== null)) resolve({ stdout, stderr, code: code ?? 0 });
      else reject(new Error(`${shown} exited with ${code ?? sig}${stderr.trim() ? `:\n${tail(stderr, 30)}` : ''}`));
    });
  });
}

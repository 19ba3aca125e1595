import { tmpdir } from 'node:os';
import { run, tail } from './exec.js';

/** What `go mod download -json` reports for one module. */
export interface GoModule {
  Path: string;
  Version: string;
  Dir: string;
  /** The go.sum hash of the module's zip ("h1:..."). */
  Sum: string;
  GoModSum?: string;
  Error?: string;
}

/** `go mod download -json <path>@<version>` as an argument array. */
export function goModDownloadArgs(path: string, version: string): string[] {
  return ['mod', 'download', '-json', `${path}@${version}`];
}

/**
 * Fetches a module's source through the Go module proxy (no git needed) and returns where it
 * lies, with its checksum (verified by the go command against go.sum's database). Runs outside
 * any workspace module so the caller's go.mod/go.work cannot change the answer.
 */
export async function downloadModule(go: string, path: string, version: string, signal?: AbortSignal): Promise<GoModule> {
  const { stdout, stderr, code } = await run(go, goModDownloadArgs(path, version), {
    cwd: tmpdir(),
    env: { ...process.env, GOWORK: 'off', GOFLAGS: '' },
    signal,
    allowFailure: true,
  });
  // On failure the go command still prints the JSON, with an Error field: prefer its words.
  let mod: GoModule;
  try {
    mod = JSON.parse(stdout) as GoModule;
  } catch {
    throw new Error(`go mod download ${path}@${version} failed (exit ${code}): ${tail(stderr || stdout, 20)}`);
  }
  if (mod.Error) throw new Error(`go mod download ${path}@${version} failed: ${mod.Error}`);
  if (!mod.Dir || !mod.Sum) throw new Error(`go mod download ${path}@${version} gave no Dir/Sum: ${stdout}`);
  return mod;
}

/** `go env GOVERSION GOOS GOARCH` -> the toolchain that builds. */
export async function goEnv(go: string, signal?: AbortSignal): Promise<{ goVersion: string; goos: string; goarch: string }> {
  const { stdout } = await run(go, ['env', 'GOVERSION', 'GOOS', 'GOARCH'], { signal });
  const [goVersion = '', goos = '', goarch = ''] = stdout
    .trim()
    .split('\n')
    .map((s) => s.trim());
  return { goVersion, goos, goarch };
}

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

/** Settings of the runner's environment that would let the go command skip the checksum database. */
const CHECKSUM_BYPASS = ['GONOSUMDB', 'GONOSUMCHECK', 'GONOSUMCHECKS', 'GOINSECURE', 'GOPRIVATE', 'GONOPROXY'] as const;

/**
 * The environment of `go mod download`: the checksum database always on (the module is not in
 * any go.sum yet, so the Go checksum database is what vouches for it), whatever the runner sets; no
 * workspace or GOFLAGS of the caller's. GOSUMDB may name another database, never "off". Pure.
 */
export function goModDownloadEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, GOWORK: 'off', GOFLAGS: '' };
  for (const k of CHECKSUM_BYPASS) delete env[k];
  if (!env.GOSUMDB || env.GOSUMDB.trim() === 'off') delete env.GOSUMDB;
  return env;
}

/**
 * Fetches a module's source through the Go module proxy (no git needed) and returns where it
 * lies, with its checksum (verified by the go command against go.sum's database). Runs outside
 * any workspace module so the caller's go.mod/go.work cannot change the answer.
 */
export async function downloadModule(go: string, path: string, version: string, signal?: AbortSignal): Promise<GoModule> {
  const { stdout, stderr, code } = await run(go, goModDownloadArgs(path, version), {
    cwd: tmpdir(),
    env: goModDownloadEnv(process.env),
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

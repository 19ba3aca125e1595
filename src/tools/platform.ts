/** The runner's OS and architecture in Go's vocabulary (GOOS/GOARCH), which release names derive from. */
export interface Platform {
  os: 'linux' | 'darwin' | 'windows';
  arch: 'amd64' | 'arm64' | '386' | 'arm';
}

const OS_BY_RUNNER: Record<string, Platform['os']> = { Linux: 'linux', macOS: 'darwin', Windows: 'windows' };
const OS_BY_NODE: Record<string, Platform['os']> = { linux: 'linux', darwin: 'darwin', win32: 'windows' };
const ARCH_BY_RUNNER: Record<string, Platform['arch']> = { X64: 'amd64', ARM64: 'arm64', X86: '386', ARM: 'arm' };
const ARCH_BY_NODE: Record<string, Platform['arch']> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' };

/**
 * RUNNER_OS/RUNNER_ARCH when the runner sets them (they describe the job's machine), else Node's
 * process.platform/arch. Throws for a platform no release exists for.
 */
export function detectPlatform(env: Record<string, string | undefined> = process.env, node: { platform: string; arch: string } = process): Platform {
  const os = (env.RUNNER_OS && OS_BY_RUNNER[env.RUNNER_OS]) || OS_BY_NODE[node.platform];
  const arch = (env.RUNNER_ARCH && ARCH_BY_RUNNER[env.RUNNER_ARCH]) || ARCH_BY_NODE[node.arch];
  if (!os) throw new Error(`unsupported runner OS: ${env.RUNNER_OS ?? node.platform}`);
  if (!arch) throw new Error(`unsupported runner architecture: ${env.RUNNER_ARCH ?? node.arch}`);
  return { os, arch };
}

/** "v3.19.5" -> "3.19.5": tool-cache versions must be semver without the tag's "v". */
export function semverOf(version: string): string {
  const v = version.trim().replace(/^v/, '');
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(v)) {
    throw new Error(`not a semver version: ${version}`);
  }
  return v;
}

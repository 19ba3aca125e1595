import type { Platform } from './platform.js';

/**
 * How one tool is released: where its archive and published checksums live (relative to the
 * release host, so a `tools-mirror` holding the same layout can stand in), and where the binary
 * sits inside the archive. The installer is generic; only this table differs per tool.
 */
export interface ToolDescription {
  name: string;
  /** The executable's file name (without .exe). */
  binary: string;
  /** Base URL of the official release host. */
  officialBase: string;
  /** The archive's path relative to the base, for a semver version (no "v"). */
  archivePath(version: string, p: Platform): string;
  /** The published checksum file's path relative to the base. */
  checksumsPath(version: string, p: Platform): string;
  /** Directory holding the binary inside the extracted archive ('' = its root). */
  binDir(p: Platform): string;
  /** Arguments that print the version (for a tool already on PATH), and how to read it. */
  versionArgs: string[];
  parseVersion(output: string): string | undefined;
}

const helmFile = (v: string, p: Platform) => `helm-v${v}-${p.os}-${p.arch}.${p.os === 'windows' ? 'zip' : 'tar.gz'}`;

/**
 * Helm: get.helm.sh/helm-v<v>-<os>-<arch>.tar.gz (.zip on Windows) holding <os>-<arch>/helm, with
 * a .sha256sum (`<hash>  <file>`, shasum's format) next to each archive. Helm 3 and Helm 4 publish
 * the same layout (v4's Makefile `dist checksum` targets and release workflow, unchanged); v4's
 * get-helm-4 reads the hash-only .sha256 beside it, which Helm's Makefile marks for removal, so
 * the .sha256sum is the one to rely on. `helm version --template {{.Version}}` prints v<v> in both.
 */
export const HELM: ToolDescription = {
  name: 'helm',
  binary: 'helm',
  officialBase: 'https://get.helm.sh',
  archivePath: helmFile,
  checksumsPath: (v, p) => `${helmFile(v, p)}.sha256sum`,
  binDir: (p) => `${p.os}-${p.arch}`,
  versionArgs: ['version', '--template', '{{.Version}}'],
  parseVersion: (out) => /v?(\d+\.\d+\.\d+\S*)/.exec(out)?.[1],
};

const KO_OS: Record<Platform['os'], string> = { linux: 'Linux', darwin: 'Darwin', windows: 'Windows' };
const KO_ARCH: Record<Platform['arch'], string> = { amd64: 'x86_64', arm64: 'arm64', '386': 'i386', arm: 'armv6' };
const koDir = (v: string) => `ko-build/ko/releases/download/v${v}`;

/** ko: GitHub release assets ko_<v>_<Os>_<Arch>.tar.gz (goreleaser names) and one checksums.txt. */
export const KO: ToolDescription = {
  name: 'ko',
  binary: 'ko',
  officialBase: 'https://github.com',
  archivePath: (v, p) => `${koDir(v)}/ko_${v}_${KO_OS[p.os]}_${KO_ARCH[p.arch]}.tar.gz`,
  checksumsPath: (v) => `${koDir(v)}/checksums.txt`,
  binDir: () => '',
  versionArgs: ['version'],
  parseVersion: (out) => /v?(\d+\.\d+\.\d+\S*)/.exec(out)?.[1],
};

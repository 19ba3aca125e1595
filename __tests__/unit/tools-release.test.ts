import { describe, expect, it } from 'vitest';
import { ensureToolCacheEnv } from '../../src/tools/cache-env.js';
import { HELM, KO } from '../../src/tools/catalog.js';
import { checksumMismatchMessage, expectedChecksum, parseChecksums } from '../../src/tools/checksums.js';
import { releaseUrls } from '../../src/tools/installer.js';
import { detectPlatform, semverOf } from '../../src/tools/platform.js';

const linux = { os: 'linux', arch: 'amd64' } as const;
const A = 'a'.repeat(64);
const B = 'B'.repeat(64);

describe('platform', () => {
  it('maps RUNNER_OS/RUNNER_ARCH to Go names', () => {
    expect(detectPlatform({ RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64' }, { platform: 'darwin', arch: 'arm64' })).toEqual(linux);
    expect(detectPlatform({ RUNNER_OS: 'macOS', RUNNER_ARCH: 'ARM64' }, { platform: 'linux', arch: 'x64' })).toEqual({ os: 'darwin', arch: 'arm64' });
    expect(detectPlatform({ RUNNER_OS: 'Windows', RUNNER_ARCH: 'X86' }, { platform: 'linux', arch: 'x64' })).toEqual({ os: 'windows', arch: '386' });
  });
  it('falls back to Node when the runner variables are unset', () => {
    expect(detectPlatform({}, { platform: 'linux', arch: 'arm64' })).toEqual({ os: 'linux', arch: 'arm64' });
  });
  it('refuses platforms without releases', () => {
    expect(() => detectPlatform({}, { platform: 'aix', arch: 'x64' })).toThrow('unsupported runner OS: aix');
    expect(() => detectPlatform({}, { platform: 'linux', arch: 'ppc64' })).toThrow('unsupported runner architecture: ppc64');
  });
  it('semverOf strips the v and rejects non-semver', () => {
    expect(semverOf('v3.19.5')).toBe('3.19.5');
    expect(semverOf('0.18.1')).toBe('0.18.1');
    expect(semverOf('v1.8.0-rc.1')).toBe('1.8.0-rc.1');
    expect(() => semverOf('latest')).toThrow('not a semver version: latest');
  });
});

describe('release URLs', () => {
  it('Helm: get.helm.sh archive with a .sha256sum next to it', () => {
    expect(releaseUrls(HELM, '3.19.5', linux)).toEqual({
      archive: 'https://get.helm.sh/helm-v3.19.5-linux-amd64.tar.gz',
      checksums: 'https://get.helm.sh/helm-v3.19.5-linux-amd64.tar.gz.sha256sum',
      file: 'helm-v3.19.5-linux-amd64.tar.gz',
    });
    expect(releaseUrls(HELM, '3.19.5', { os: 'windows', arch: 'amd64' }).file).toBe('helm-v3.19.5-windows-amd64.zip');
    expect(HELM.binDir(linux)).toBe('linux-amd64');
  });
  it('Helm 4: the same layout as Helm 3 (archive, .sha256sum, <os>-<arch>/helm), from get.helm.sh or a mirror', () => {
    expect(releaseUrls(HELM, '4.1.1', linux)).toEqual({
      archive: 'https://get.helm.sh/helm-v4.1.1-linux-amd64.tar.gz',
      checksums: 'https://get.helm.sh/helm-v4.1.1-linux-amd64.tar.gz.sha256sum',
      file: 'helm-v4.1.1-linux-amd64.tar.gz',
    });
    expect(releaseUrls(HELM, '4.1.1', { os: 'darwin', arch: 'arm64' }).file).toBe('helm-v4.1.1-darwin-arm64.tar.gz');
    expect(releaseUrls(HELM, '4.1.1', { os: 'windows', arch: 'amd64' }).checksums).toBe('https://get.helm.sh/helm-v4.1.1-windows-amd64.zip.sha256sum');
    expect(releaseUrls(HELM, '4.0.0-rc.1', linux).file).toBe('helm-v4.0.0-rc.1-linux-amd64.tar.gz');
    expect(releaseUrls(HELM, '4.1.1', linux, 'https://mirror.example/helm/')).toEqual({
      archive: 'https://mirror.example/helm/helm-v4.1.1-linux-amd64.tar.gz',
      checksums: 'https://mirror.example/helm/helm-v4.1.1-linux-amd64.tar.gz.sha256sum',
      file: 'helm-v4.1.1-linux-amd64.tar.gz',
    });
    // Helm 4's Makefile writes `shasum -a 256 _dist/<file> | sed 's/_dist\///'`: "<hash>  <file>"
    expect(expectedChecksum(`${A}  helm-v4.1.1-linux-amd64.tar.gz\n`, 'helm-v4.1.1-linux-amd64.tar.gz', 'helm-v4.1.1-linux-amd64.tar.gz.sha256sum')).toBe(A);
    // What `helm version --template {{.Version}}` prints (the real v4.1.1 binary; v4.1.1+<metadata> for a local build)
    expect(HELM.parseVersion('v4.1.1')).toBe('4.1.1');
    expect(HELM.parseVersion('v4.1.1+unreleased')).toBe('4.1.1+unreleased');
  });
  it('ko: GitHub release assets with goreleaser names and checksums.txt', () => {
    expect(releaseUrls(KO, '0.18.1', linux)).toEqual({
      archive: 'https://github.com/ko-build/ko/releases/download/v0.18.1/ko_0.18.1_Linux_x86_64.tar.gz',
      checksums: 'https://github.com/ko-build/ko/releases/download/v0.18.1/checksums.txt',
      file: 'ko_0.18.1_Linux_x86_64.tar.gz',
    });
    expect(releaseUrls(KO, '0.18.1', { os: 'darwin', arch: 'arm64' }).file).toBe('ko_0.18.1_Darwin_arm64.tar.gz');
    expect(KO.binDir(linux)).toBe('');
  });
  it('a mirror keeps the same relative layout under its base URL', () => {
    expect(releaseUrls(KO, '0.18.1', linux, 'http://127.0.0.1:8080/mirror/')).toEqual({
      archive: 'http://127.0.0.1:8080/mirror/ko-build/ko/releases/download/v0.18.1/ko_0.18.1_Linux_x86_64.tar.gz',
      checksums: 'http://127.0.0.1:8080/mirror/ko-build/ko/releases/download/v0.18.1/checksums.txt',
      file: 'ko_0.18.1_Linux_x86_64.tar.gz',
    });
    expect(releaseUrls(HELM, '3.19.5', linux, 'file:///srv/m').archive).toBe('file:///srv/m/helm-v3.19.5-linux-amd64.tar.gz');
  });
  it('version parsers read what the tools print', () => {
    expect(HELM.parseVersion('v3.19.5')).toBe('3.19.5');
    expect(KO.parseVersion('0.18.1\n')).toBe('0.18.1');
    expect(KO.parseVersion('(devel)')).toBeUndefined();
  });
});

describe('checksums', () => {
  it('parses goreleaser checksums.txt and sha256sum lines (text and binary mode)', () => {
    const sums = parseChecksums(`${A}  ko_0.18.1_Linux_x86_64.tar.gz\n${B} *dir/helm.zip\n\nnot a line\n`);
    expect([...sums]).toEqual([
      ['ko_0.18.1_Linux_x86_64.tar.gz', A],
      ['helm.zip', B.toLowerCase()],
    ]);
  });
  it('finds the file, or takes a lone hash (a bare .sha256sum)', () => {
    expect(expectedChecksum(`${A}  x.tar.gz\n${B}  y.tar.gz\n`, 'y.tar.gz', 'sums')).toBe(B.toLowerCase());
    expect(expectedChecksum(`${A}\n`, 'x.tar.gz', 'x.sha256sum')).toBe(A);
    expect(expectedChecksum(`${A}  x.tar.gz\n`, 'x.tar.gz', 'x.sha256sum')).toBe(A);
  });
  it('names the file when the checksum file does not list it', () => {
    expect(() => expectedChecksum(`${A}  x.tar.gz\n${B}  y.tar.gz\n`, 'z.tar.gz', 'http://m/checksums.txt')).toThrow(
      'http://m/checksums.txt lists no sha256 for z.tar.gz',
    );
  });
  it('the mismatch message names the file and both hashes', () => {
    expect(checksumMismatchMessage('f.tar.gz', A, B)).toBe(`sha256 mismatch for f.tar.gz: expected ${A}, got ${B}`);
  });
});

describe('tool cache outside a runner', () => {
  it('defaults RUNNER_TOOL_CACHE under GAC_CACHE (or ~/.cache) and RUNNER_TEMP to the OS temp dir; keeps what a runner set', () => {
    const env: NodeJS.ProcessEnv = { GAC_CACHE: '/c' };
    expect(ensureToolCacheEnv(env)).toBe('/c/toolcache');
    expect(env.RUNNER_TEMP).toBeTruthy();
    const runner: NodeJS.ProcessEnv = { RUNNER_TOOL_CACHE: '/opt/hostedtoolcache', RUNNER_TEMP: '/r' };
    expect(ensureToolCacheEnv(runner)).toBe('/opt/hostedtoolcache');
    expect(runner.RUNNER_TEMP).toBe('/r');
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELM, KO } from '../../src/tools/catalog.js';
import { run } from '../../src/tools/exec.js';
import { installTool } from '../../src/tools/installer.js';
import { startMirror, type Mirror } from '../support/mirror.js';

// The generic installer end to end against a loopback mirror (real HTTP, real tar, real tool
// cache in a temp dir); the packaged "binaries" are small scripts that print their version.
const p = { os: 'linux', arch: 'amd64' } as const;
let mirror: Mirror;
const env = { ...process.env };

function script(name: string, out: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'gac-bin-')), name);
  writeFileSync(file, `#!/bin/sh\necho ${out}\n`, { mode: 0o755 });
  return file;
}

beforeAll(async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'gac-tc-'));
  process.env.RUNNER_TOOL_CACHE = join(tmp, 'cache');
  process.env.RUNNER_TEMP = join(tmp, 'temp');
  mirror = await startMirror(
    [
      { desc: HELM, version: '3.19.5', binary: script('helm', 'v3.19.5') },
      { desc: HELM, version: '4.1.1', binary: script('helm', 'v4.1.1') },
      { desc: KO, version: '0.18.1', binary: script('ko', '0.18.1') },
      { desc: KO, version: '0.17.0', binary: script('ko', '0.17.0') },
    ],
    p,
  );
});
afterAll(async () => {
  await mirror.close();
  process.env = env;
});

describe('installTool from a mirror', () => {
  it('downloads, verifies and caches helm, then a second install makes no request', async () => {
    const first = await installTool(HELM, 'v3.19.5', { mirror: mirror.url, platform: p, log: () => {} });
    expect(first.source).toBe('download');
    expect(first.url).toBe(`${mirror.url}/helm-v3.19.5-linux-amd64.tar.gz`);
    expect(mirror.requests).toEqual(['/helm-v3.19.5-linux-amd64.tar.gz.sha256sum', '/helm-v3.19.5-linux-amd64.tar.gz']);
    expect(first.binary).toBe(join(process.env.RUNNER_TOOL_CACHE!, 'helm', '3.19.5', 'x64', 'helm'));
    expect((await run(first.binary, [])).stdout.trim()).toBe('v3.19.5');

    const before = mirror.requests.length;
    const second = await installTool(HELM, '3.19.5', { mirror: mirror.url, platform: p, log: () => {} });
    expect(second.source).toBe('cache');
    expect(second.binary).toBe(first.binary);
    expect(mirror.requests.length).toBe(before);
  });

  it('installs Helm 4 the same way, beside Helm 3 in the tool cache', async () => {
    const v4 = await installTool(HELM, 'v4.1.1', { mirror: mirror.url, platform: p, log: () => {} });
    expect(v4.source).toBe('download');
    expect(mirror.requests.slice(-2)).toEqual(['/helm-v4.1.1-linux-amd64.tar.gz.sha256sum', '/helm-v4.1.1-linux-amd64.tar.gz']);
    expect(v4.binary).toBe(join(process.env.RUNNER_TOOL_CACHE!, 'helm', '4.1.1', 'x64', 'helm'));
    expect((await run(v4.binary, [])).stdout.trim()).toBe('v4.1.1');
    expect((await installTool(HELM, 'v3.19.5', { mirror: mirror.url, platform: p, log: () => {} })).source).toBe('cache');
  });

  it('installs ko from checksums.txt (one file for every asset of the release)', async () => {
    const ko = await installTool(KO, '0.18.1', { mirror: mirror.url, platform: p, log: () => {} });
    expect(ko.source).toBe('download');
    expect(mirror.requests.slice(-2)).toEqual([
      '/ko-build/ko/releases/download/v0.18.1/checksums.txt',
      '/ko-build/ko/releases/download/v0.18.1/ko_0.18.1_Linux_x86_64.tar.gz',
    ]);
    expect((await run(ko.binary, [])).stdout.trim()).toBe('0.18.1');
  });

  it('rejects a tampered archive naming the file and both hashes, and caches nothing', async () => {
    mirror.tamper('ko');
    const err = await installTool(KO, '0.17.0', { mirror: mirror.url, platform: p, log: () => {} }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^sha256 mismatch for ko_0\.17\.0_Linux_x86_64\.tar\.gz: expected [0-9a-f]{64}, got [0-9a-f]{64}$/);
    const [, expected, actual] = /expected (\w+), got (\w+)/.exec((err as Error).message)!;
    expect(expected).not.toBe(actual);
    // Nothing was cached: the next attempt downloads again (and fails again).
    const n = mirror.requests.length;
    await expect(installTool(KO, '0.17.0', { mirror: mirror.url, platform: p, log: () => {} })).rejects.toThrow('sha256 mismatch');
    expect(mirror.requests.length).toBe(n + 2);
  });

  it('names the URL when the mirror lacks the release', async () => {
    await expect(installTool(HELM, '3.0.0', { mirror: mirror.url, platform: p, log: () => {} })).rejects.toThrow(
      `download of ${mirror.url}/helm-v3.0.0-linux-amd64.tar.gz.sha256sum failed`,
    );
  });

  it('reads a file:// mirror without any HTTP request', async () => {
    const n = mirror.requests.length;
    process.env.RUNNER_TOOL_CACHE = mkdtempSync(join(tmpdir(), 'gac-tc2-'));
    const t = await installTool(HELM, '3.19.5', { mirror: `file://${mirror.root}`, platform: p, log: () => {} });
    expect(t.source).toBe('download');
    expect(mirror.requests.length).toBe(n);
  });

  it('takes a tool already on PATH at the requested version (no request), and says so', async () => {
    const n = mirror.requests.length;
    process.env.RUNNER_TOOL_CACHE = mkdtempSync(join(tmpdir(), 'gac-tc3-'));
    const onPath = script('helm', 'v3.20.1');
    const savedPath = process.env.PATH;
    process.env.PATH = `${join(onPath, '..')}:${savedPath}`;
    try {
      const logs: string[] = [];
      const t = await installTool(HELM, 'v3.20.1', { mirror: mirror.url, platform: p, usePath: true, log: (m) => logs.push(m) });
      expect(t.source).toBe('path');
      expect(t.binary).toBe(onPath);
      expect(logs).toEqual([`helm 3.20.1: using ${onPath} from PATH (reports the requested version)`]);
      // Another version on PATH is not taken: the installer goes to the mirror.
      await expect(installTool(HELM, 'v3.19.4', { mirror: mirror.url, platform: p, usePath: true, log: () => {} })).rejects.toThrow('download of');
      expect(mirror.requests.length).toBe(n + 1);
    } finally {
      process.env.PATH = savedPath;
    }
  });
});

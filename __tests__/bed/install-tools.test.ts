// The tools stage against a loopback mirror holding the bed's real helm and ko in the official
// release layout: downloaded, verified, cached and put on PATH; a second run makes no request;
// a tampered archive fails the stage with the file and both hashes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/inputs.js';
import { runStages } from '../../src/runner.js';
import { toolsStage } from '../../src/stages/tools.js';
import { HELM, KO } from '../../src/tools/catalog.js';
import { run } from '../../src/tools/exec.js';
import { detectPlatform } from '../../src/tools/platform.js';
import { bin, loadBed, type Bed } from '../../testbed/lib/bed.js';
import { installEnv } from '../support/install-env.js';
import { startMirror, type Mirror } from '../support/mirror.js';

let bed: Bed;
let mirror: Mirror;
let temp: string;
const helmVersion = () => bed.versions.HELM_VERSION!;
const koVersion = () => bed.versions.KO_VERSION!;
let basePath: string | undefined;
const toolsRun = (toolCache: string) => {
  process.env.RUNNER_TOOL_CACHE = toolCache;
  // core.addPath of an earlier run would let the stage take that helm from PATH.
  process.env.PATH = basePath;
  const config = configFrom({
    'karpenter-mode': 'registry',
    'image-repository': '127.0.0.1:27410/karpenter',
    'tools-mirror': mirror.url,
    'helm-version': helmVersion(),
    'ko-version': koVersion(),
    'evidence-dir': join(temp, 'evidence'),
    'run-id': 'tools-test',
    stages: 'tools',
  });
  return runStages([toolsStage], config);
};

beforeAll(async () => {
  bed = loadBed();
  temp = installEnv(mkdtempSync(join(tmpdir(), 'gac-tc-')));
  basePath = process.env.PATH;
  const p = detectPlatform();
  mirror = await startMirror(
    [
      { desc: HELM, version: helmVersion().replace(/^v/, ''), binary: bin(bed, 'helm') },
      { desc: KO, version: koVersion().replace(/^v/, ''), binary: bin(bed, 'ko') },
    ],
    p,
  );
});
afterAll(async () => {
  await mirror?.close();
  if (temp) rmSync(temp, { recursive: true, force: true });
});

describe('tools stage from a loopback mirror', () => {
  const cache = () => join(temp, 'toolcache');

  it('downloads, verifies and installs ko and helm, then a second run makes no request', async () => {
    const first = await toolsRun(cache());
    for (const r of first.records) console.log(`[figures] tools cold: ${r.durationMs} ms: ${r.message}`);
    expect(first.records[0]!.status).toBe('pass');
    expect(mirror.requests).toHaveLength(4);
    expect(first.run.cache.map((c) => `${c.item}:${c.hit}`)).toEqual([`ko@${koVersion().slice(1)}:false`, `helm@${helmVersion().slice(1)}:false`]);
    expect((await run(first.run.toolPaths.helm!, ['version', '--template', '{{.Version}}'])).stdout).toBe(helmVersion());
    expect((await run(first.run.toolPaths.ko!, ['version'])).stdout.trim()).toContain(koVersion().slice(1));
    expect(first.records[0]!.evidence[0]!.output).toMatch(/sha256 [0-9a-f]{64} verified/);

    const second = await toolsRun(cache());
    for (const r of second.records) console.log(`[figures] tools warm: ${r.durationMs} ms: ${r.message}`);
    expect(second.records[0]!.status).toBe('pass');
    expect(mirror.requests).toHaveLength(4);
    expect(second.run.cache.every((c) => c.hit)).toBe(true);
    expect(second.records[0]!.evidence[0]!.output).toContain('cache hit in the tool cache, no download');
  });

  it('fails on a tampered archive, naming the file and both hashes', async () => {
    mirror.tamper('helm');
    const r = await toolsRun(join(temp, 'toolcache-tampered'));
    const rec = r.records[0]!;
    expect(rec.status).toBe('fail');
    expect(rec.message).toMatch(
      new RegExp(`sha256 mismatch for helm-${helmVersion().replace(/\./g, '\\.')}-linux-amd64\\.tar\\.gz: expected [0-9a-f]{64}, got [0-9a-f]{64}`),
    );
    expect(r.run.toolPaths.helm).toBeUndefined();
  });
});

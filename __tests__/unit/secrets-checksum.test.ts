// Checksum verification of every download cannot be turned off: no input or environment variable
// skips it, every way a checksum can be missing or wrong fails the install, and the Go module
// download of Karpenter keeps the checksum database on whatever the runner's environment says.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HELM } from '../../src/tools/catalog.js';
import { downloadModule } from '../../src/tools/gomod.js';
import { installTool } from '../../src/tools/installer.js';
import { ROOT } from '../support/harness.js';
import { startMirror, type Mirror } from '../support/mirror.js';

const p = { os: 'linux', arch: 'amd64' } as const;
const BYPASS = /checksum|verif|insecure|sha256|nosum|skip-?tls|integrity/i;
/** Settings people reach for to switch verification off; none may have an effect. */
const BYPASS_ENV = {
  SKIP_CHECKSUM: 'true',
  GAC_SKIP_CHECKSUM: 'true',
  GAC_SKIP_VERIFY: 'true',
  INPUT_SKIP_CHECKSUM: 'true',
  INPUT_VERIFY: 'false',
  INSECURE: 'true',
  NODE_TLS_REJECT_UNAUTHORIZED: '0',
};
const env = { ...process.env };
let mirror: Mirror;
let pristine: Map<string, Buffer>;

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile());
}

beforeAll(async () => {
  const bin = join(mkdtempSync(join(tmpdir(), 'gac-bin-')), 'helm');
  writeFileSync(bin, '#!/bin/sh\necho v3.19.5\n', { mode: 0o755 });
  mirror = await startMirror([{ desc: HELM, version: '3.19.5', binary: bin }], p);
  pristine = new Map(files(mirror.root).map((f) => [f, readFileSync(join(mirror.root, f))]));
});
beforeEach(() => {
  // A fresh tool cache each time (a cache hit makes no download to verify), the mirror as built.
  const tmp = mkdtempSync(join(tmpdir(), 'gac-tc-'));
  process.env = { ...env, ...BYPASS_ENV, RUNNER_TOOL_CACHE: join(tmp, 'cache'), RUNNER_TEMP: join(tmp, 'temp') };
  for (const [f, bytes] of pristine) writeFileSync(join(mirror.root, f), bytes);
});
afterAll(async () => {
  await mirror.close();
  process.env = env;
});

const install = () => installTool(HELM, 'v3.19.5', { mirror: mirror.url, platform: p, usePath: false, log: () => {} });
const sumsFile = () => join(mirror.root, HELM.checksumsPath('3.19.5', p));
const cached = () => (existsSync(process.env.RUNNER_TOOL_CACHE!) ? files(process.env.RUNNER_TOOL_CACHE!) : []);

describe('checksum verification cannot be turned off', () => {
  it('no action input is about verification', () => {
    const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, { description: string }> };
    const offending = Object.entries(action.inputs).filter(
      ([name, spec]) => BYPASS.test(name) || (/skip|disable|off/i.test(name + spec.description) && BYPASS.test(spec.description)),
    );
    expect(offending).toEqual([]);
  });

  // (GOSUMDB is read only to be forced on: see the go mod download test below.)
  it('src/ reads no environment variable that could switch it off', () => {
    const names = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const f = join(dir, e.name);
        if (e.isDirectory()) walk(f);
        else for (const m of readFileSync(f, 'utf8').matchAll(/\benv(?:\.|\[['"])([A-Z][A-Z0-9_]+)/g)) names.add(m[1]!);
      }
    };
    walk(join(ROOT, 'src'));
    expect(names.size).toBeGreaterThan(3);
    expect([...names].filter((n) => BYPASS.test(n) || /SKIP|NOSUM|TLS_REJECT/.test(n))).toEqual([]);
  });

  it('a verified install works with every bypass setting present (the baseline)', async () => {
    const t = await install();
    expect(t.source).toBe('download');
    expect(t.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  const failures: [string, () => void, RegExp][] = [
    ['a tampered archive', () => mirror.tamper('helm'), /sha256 mismatch for helm-v3\.19\.5-linux-amd64\.tar\.gz: expected [0-9a-f]{64}, got [0-9a-f]{64}/],
    ['a checksum file that is missing', () => rmSync(sumsFile()), /download of .*\.sha256sum failed/],
    ['an empty checksum file', () => writeFileSync(sumsFile(), ''), /lists no sha256 for helm-v3\.19\.5-linux-amd64\.tar\.gz/],
    [
      'a checksum file listing other files only',
      () => writeFileSync(sumsFile(), `${'a'.repeat(64)}  helm-v3.19.5-linux-arm64.tar.gz\n${'b'.repeat(64)}  other.tar.gz\n`),
      /lists no sha256 for helm-v3\.19\.5-linux-amd64\.tar\.gz/,
    ],
    ['a checksum file that is not a checksum', () => writeFileSync(sumsFile(), 'skip\n'), /lists no sha256/],
    ['a wrong checksum', () => writeFileSync(sumsFile(), `${'0'.repeat(64)}  helm-v3.19.5-linux-amd64.tar.gz\n`), /sha256 mismatch .*expected 0{64}/],
  ];
  for (const [name, breakIt, message] of failures) {
    it(`fails the install on ${name}, and caches nothing`, async () => {
      breakIt();
      await expect(install()).rejects.toThrow(message);
      expect(cached()).toEqual([]);
    });
  }
});

describe('Karpenter module download (go mod download)', () => {
  it('runs with the checksum database on, whatever the runner environment sets', async () => {
    // A stand-in go that records the environment it was given and answers like `go mod download -json`.
    const dir = mkdtempSync(join(tmpdir(), 'gac-go-'));
    const go = join(dir, 'go');
    const seen = join(dir, 'env.txt');
    writeFileSync(go, `#!/bin/sh\nenv > ${seen}\necho '{"Path":"sigs.k8s.io/karpenter","Version":"v1.8.0","Dir":"${dir}","Sum":"h1:abc="}'\n`);
    chmodSync(go, 0o755);
    process.env = {
      ...env,
      GOSUMDB: 'off',
      GONOSUMDB: '*',
      GONOSUMCHECK: '1',
      GONOSUMCHECKS: '1',
      GOINSECURE: '*',
      GOPRIVATE: '*',
      GOFLAGS: '-insecure -mod=mod',
    };
    const mod = await downloadModule(go, 'sigs.k8s.io/karpenter', 'v1.8.0');
    expect(mod.Sum).toBe('h1:abc=');
    const vars = Object.fromEntries(
      readFileSync(seen, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('GO'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(vars.GOSUMDB ?? 'default').not.toBe('off');
    for (const k of ['GONOSUMDB', 'GONOSUMCHECK', 'GONOSUMCHECKS', 'GOINSECURE', 'GOPRIVATE']) expect(vars[k] ?? '', k).toBe('');
    expect(vars.GOFLAGS ?? '').not.toMatch(/insecure|-mod=mod/);
  });
});

// Bad input through the bundle, table-driven: every input malformed or out of range, nodepool
// and instance-types files malformed or of the wrong kind (one invocation each, 4 at a time),
// then the cases that reach the cluster: unreachable, untrusted, unauthenticated, a user without
// RBAC, an unknown Karpenter version. Each names what is wrong and what is accepted, and leaves
// the cluster exactly as it was.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePermission } from '../../src/checks/permissions.js';
import { permissionsFor } from '../../src/karpenter/index.js';
import { configFrom } from '../../src/inputs.js';
import { freePort } from '../../src/tools/karpenter-process.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { bedKube } from '../support/cluster.js';
import { makeRunnerDirs, runAction, type ActionResult } from '../support/harness.js';
import { file, INPUT_CASES, tmp } from '../support/bad-inputs.js';
import { findSecrets, kubeconfigKeyMaterial, wideSnapshot, type WideSnapshot } from '../support/leaks.js';

const cache = process.env.GAC_CACHE ?? path.join(os.homedir(), '.cache', 'gpu-autoscaling-conformance');
const toolCache = path.join(cache, 'toolcache');

let bed: Bed;
let before: WideSnapshot;
const env = () => ({ PATH: `${process.env.PATH}:/usr/local/go/bin` });

beforeAll(async () => {
  bed = loadBed();
  before = await wideSnapshot(bedKube(bed.kubeconfig));
});

async function run(inputs: Record<string, string>): Promise<ActionResult & { evidenceDir: string }> {
  const dirs = makeRunnerDirs(fs.mkdtempSync(path.join(tmp, 'runner-')));
  const evidenceDir = path.join(dirs.temp, 'evidence');
  const r = await runAction({ inputs: { kubeconfig: bed.kubeconfig, 'evidence-dir': evidenceDir, ...inputs }, toolCache, dirs, env: env() });
  return { ...r, evidenceDir };
}

/** The ::error:: line a step printed for a stage, unescaped as the runner shows it. */
function errorLine(r: ActionResult, stage: string): string {
  const line = r.main.stdout.split('\n').find((l) => l.startsWith(`::error::${stage}:`)) ?? '';
  return line.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}

/** Runs `f` over items, `n` at a time. */
async function pool<T, R>(items: T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

describe('bad input', () => {
  const results = new Map<string, ActionResult>();

  beforeAll(async () => {
    expect(INPUT_CASES.length).toBeGreaterThanOrEqual(40);
    const rs = await pool(INPUT_CASES, 4, (c) => run(c.inputs()));
    INPUT_CASES.forEach((c, i) => results.set(c.name, rs[i]!));
  });

  it.each(INPUT_CASES.map((c) => [c.name, c] as const))('%s: rejected before anything runs, naming the input and what is accepted', (_name, c) => {
    const r = results.get(c.name)!;
    expect(r.main.code).toBe(1);
    expect(r.outputs).toMatchObject({ result: 'fail', 'failed-stage': 'inputs' });
    expect(r.main.stdout).toContain(`::error::inputs: ${c.count ?? 1} invalid input(s), nothing was changed in the cluster:`);
    const problem = errorLine(r, 'inputs')
      .split('\n')
      .find((l) => l.startsWith('  - '))!;
    for (const m of c.message) expect(problem, r.main.stdout).toContain(m);
    // Nothing ran: no stage group, no evidence, and post has nothing to do.
    expect(r.main.stdout).not.toContain('::group::');
    expect(r.post.code).toBe(0);
    expect(r.post.stdout).toContain('post: main rejected its inputs and changed nothing in the cluster: nothing to clean up');
  });

  it('every problem at once when several inputs are bad', async () => {
    const r = await run({ 'min-replicas': '0', 'max-replicas': 'x', scenario: 'gpu', 'karpenter-version': 'v9', timeouts: 'hpa=1y', 'cleanup-stale': 'maybe' });
    expect(r.main.stdout).toContain('::error::inputs: 6 invalid input(s)');
    for (const name of ['min-replicas', 'max-replicas', 'scenario', 'karpenter-version', 'timeouts', 'cleanup-stale'])
      expect(r.main.stdout).toContain(`  - input "${name}"`);
  });

  it('the cluster is as it was after all of them', async () => {
    expect(await wideSnapshot(bedKube(bed.kubeconfig))).toEqual(before);
  });
});

/** A client certificate signed by the bed's CA for a user no RBAC binding names. */
function noRbacKubeconfig(): string {
  const key = path.join(tmp, 'nobody.key');
  const crt = path.join(tmp, 'nobody.crt');
  const caKey = path.join(path.dirname(bed.ca), 'ca.key');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  const csr = execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=gac-no-rbac']);
  const ext = file('client.ext', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  execFileSync('openssl', ['x509', '-req', '-CA', bed.ca, '-CAkey', caKey, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', crt], { input: csr });
  const b64 = (f: string) => fs.readFileSync(f).toString('base64');
  return file(
    'nobody.kubeconfig',
    `apiVersion: v1\nkind: Config\nclusters: [{name: bed, cluster: {server: "${bed.apiserver}", certificate-authority-data: ${b64(bed.ca)}}}]\nusers: [{name: nobody, user: {client-certificate-data: ${b64(crt)}, client-key-data: ${b64(key)}}}]\ncontexts: [{name: bed, context: {cluster: bed, user: nobody}}]\ncurrent-context: bed\n`,
  );
}

/** A kubeconfig for the bed's apiserver with other credentials or another CA. */
function variantKubeconfig(name: string, opts: { server?: string; user: string; ca?: string }): string {
  const ca = opts.ca ? `certificate-authority-data: ${opts.ca}` : `certificate-authority-data: ${fs.readFileSync(bed.ca).toString('base64')}`;
  return file(
    name,
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${opts.server ?? bed.apiserver}", ${ca}}}]\nusers: [{name: u, user: ${opts.user}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
  );
}

describe('bad input that reaches the cluster', () => {
  let snap: WideSnapshot;
  const expectUntouched = async (r: ActionResult, kubeconfig: string) => {
    expect(r.post.code).toBe(0);
    expect(await wideSnapshot(bedKube(bed.kubeconfig))).toEqual(snap);
    expect(findSecrets(r, path.join(r.dirs.temp, 'evidence'), kubeconfigKeyMaterial(kubeconfig))).toEqual([]);
  };
  beforeAll(async () => {
    snap = await wideSnapshot(bedKube(bed.kubeconfig));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('an unreachable cluster fails preflight naming the server', async () => {
    // A port nothing listens on (freed at once), so the connection is refused.
    const port = await freePort();
    const kubeconfig = variantKubeconfig('unreachable.kubeconfig', { server: `https://127.0.0.1:${port}`, user: '{token: unreachable-token-0123456789}' });
    const r = await run({ kubeconfig, timeouts: 'preflight=20s' });
    expect(r.outputs).toMatchObject({ result: 'fail', 'failed-stage': 'preflight' });
    expect(errorLine(r, 'preflight')).toContain(
      `Expected the Kubernetes API at https://127.0.0.1:${port} to answer; it did not: fetch failed (connect ECONNREFUSED 127.0.0.1:${port})`,
    );
    expect(r.main.stdout).toContain('Next: check the kubeconfig/context inputs');
    await expectUntouched(r, kubeconfig);
  });

  it('a server certificate the kubeconfig does not trust fails preflight', async () => {
    const otherCa = path.join(tmp, 'other-ca');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        `${otherCa}.key`,
        '-out',
        `${otherCa}.crt`,
        '-subj',
        '/CN=other-ca',
        '-days',
        '1',
      ],
      { stdio: 'ignore' },
    );
    const kubeconfig = variantKubeconfig('untrusted.kubeconfig', {
      user: '{token: untrusted-token-0123456789}',
      ca: fs.readFileSync(`${otherCa}.crt`).toString('base64'),
    });
    const r = await run({ kubeconfig, timeouts: 'preflight=20s' });
    expect(r.outputs['failed-stage']).toBe('preflight');
    expect(r.main.stdout).toMatch(
      /::error::preflight: Expected a trusted TLS connection to the Kubernetes API at https:\/\/127\.0\.0\.1:\d+; .*TLS error connecting to the Kubernetes API \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT)/,
    );
    await expectUntouched(r, kubeconfig);
  });

  it('a token the apiserver does not know fails preflight (and the token shows nowhere)', async () => {
    const kubeconfig = variantKubeconfig('badtoken.kubeconfig', { user: '{token: gac-bogus-token-5f1c2e9a7b}' });
    const r = await run({ kubeconfig, timeouts: 'preflight=20s' });
    expect(r.outputs['failed-stage']).toBe('preflight');
    expect(r.main.stdout).toMatch(/::error::preflight: .*(401|Unauthorized)/i);
    expect(r.main.stdout).toContain('::add-mask::gac-bogus-token-5f1c2e9a7b');
    await expectUntouched(r, kubeconfig);
  });

  it('a user without RBAC bindings fails preflight listing every missing permission', async () => {
    const kubeconfig = noRbacKubeconfig();
    const inputs = { kubeconfig, 'run-id': 'norbac', timeouts: 'preflight=30s' };
    const r = await run(inputs);
    expect(r.outputs).toMatchObject({ result: 'fail', 'failed-stage': 'preflight' });
    const config = configFrom({ ...inputs, 'evidence-dir': path.join(tmp, 'x') });
    const perms = permissionsFor(config, 'gpu-conformance-norbac');
    expect(perms.length).toBeGreaterThan(10);
    expect(r.main.stdout).toContain(`::error::preflight: Expected every permission the selected stages need; ${perms.length} denied:`);
    const message = errorLine(r, 'preflight');
    for (const p of perms) expect(message).toContain(describePermission(p));
    expect(message).toContain('Next: grant these verbs');
    await expectUntouched(r, kubeconfig);
  });

  it('an unknown Karpenter version fails in karpenter-build, before the cluster is changed', async () => {
    const r = await run({ 'karpenter-version': 'v9.9.9', scenario: 'pending-pods', timeouts: 'karpenter-build=5m' });
    expect(r.outputs).toMatchObject({ result: 'fail', 'failed-stage': 'karpenter-build' });
    const line = errorLine(r, 'karpenter-build');
    expect(line).toContain('sigs.k8s.io/karpenter@v9.9.9');
    // The Go module proxy's answer for a version that does not exist (410/404, or 403 behind a mirror).
    expect(line).toMatch(/unknown revision|not found|invalid version|not available/i);
    const results = JSON.parse(fs.readFileSync(path.join(r.evidenceDir, 'results.json'), 'utf8')) as { stages: { name: string; status: string }[] };
    const status = Object.fromEntries(results.stages.map((s) => [s.name, s.status]));
    expect(status).toMatchObject({ preflight: 'pass', 'karpenter-build': 'fail', cleanup: 'pass' });
    const after = results.stages.slice(results.stages.findIndex((s) => s.name === 'karpenter-build') + 1, -1);
    expect(after.map((s) => s.status)).toEqual(after.map(() => 'skip'));
    await expectUntouched(r, bed.kubeconfig);
  });
});

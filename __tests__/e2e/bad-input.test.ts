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
import { describePermission, requiredPermissions } from '../../src/checks/permissions.js';
import { configFrom } from '../../src/inputs.js';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import { bedKube } from '../support/cluster.js';
import { makeRunnerDirs, runAction, type ActionResult } from '../support/harness.js';
import { findSecrets, kubeconfigKeyMaterial, wideSnapshot, type WideSnapshot } from '../support/leaks.js';

const cache = process.env.GAC_CACHE ?? path.join(os.homedir(), '.cache', 'gpu-autoscaling-conformance');
const toolCache = path.join(cache, 'toolcache');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gac-bad-input-'));
const file = (name: string, text: string) => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
};

const POOL = (over: string) => `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
${over}---
apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: default}
`;
const TYPE = (resources: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  name: 'x1',
  offerings: [{ Price: 1, Available: true, Requirements: [{ key: 'karpenter.sh/capacity-type', operator: 'In', values: ['on-demand'] }] }],
  architecture: 'amd64',
  operatingSystems: ['linux'],
  resources: { cpu: '4', memory: '16Gi', pods: '110', ...resources },
  ...extra,
});

interface Case {
  name: string;
  inputs: () => Record<string, string>;
  /** Substrings of the error, in order of importance: the input, what was given, what is accepted. */
  message: string[];
  /** Invalid inputs the case makes (1 unless it combines several). */
  count?: number;
}

/** Inputs and files that the inputs stage alone must reject. */
const INPUT_CASES: Case[] = [
  {
    name: 'kubeconfig that does not exist',
    inputs: () => ({ kubeconfig: '/nonexistent/kubeconfig' }),
    message: ['input "kubeconfig"', 'does not exist', 'accepted: a path to a kubeconfig file'],
  },
  {
    name: 'kubeconfig that is not YAML',
    inputs: () => ({ kubeconfig: file('garbage.kubeconfig', '{{{ not: [yaml') }),
    message: ['input "kubeconfig"', 'is not a valid kubeconfig', 'accepted: a kubeconfig file'],
  },
  {
    name: 'kubeconfig without current-context',
    inputs: () => ({
      kubeconfig: file(
        'nocontext.kubeconfig',
        'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n',
      ),
    }),
    message: ['input "kubeconfig"', 'has no current-context', 'accepted: set the context input to one of a'],
  },
  {
    name: 'context not in the kubeconfig',
    inputs: () => ({ context: 'prod-cluster' }),
    message: ['input "context"', '"prod-cluster" is not in', 'accepted: gac-bed'],
  },
  {
    name: 'cluster-name with capitals',
    inputs: () => ({ 'cluster-name': 'Kind_Cluster' }),
    message: ['input "cluster-name"', '"Kind_Cluster" is not a valid name', 'accepted: lowercase letters'],
  },
  { name: 'namespace-prefix with capitals', inputs: () => ({ 'namespace-prefix': 'GPU' }), message: ['input "namespace-prefix"', '"GPU" is not a valid name'] },
  { name: 'namespace-prefix too long', inputs: () => ({ 'namespace-prefix': 'n'.repeat(41) }), message: ['input "namespace-prefix"', 'at most 40 characters'] },
  { name: 'run-id with a space', inputs: () => ({ 'run-id': 'run 1' }), message: ['input "run-id"', '"run 1" is not a valid name'] },
  { name: 'run-id too long', inputs: () => ({ 'run-id': 'r'.repeat(23) }), message: ['input "run-id"', 'at most 22 characters'] },
  { name: 'run-id starting with a dash', inputs: () => ({ 'run-id': '-x' }), message: ['input "run-id"', 'starting and ending with a letter or digit'] },
  { name: 'run-id with a shell metacharacter', inputs: () => ({ 'run-id': 'x;rm-rf' }), message: ['input "run-id"', 'is not a valid name'] },
  {
    name: 'unknown karpenter-mode',
    inputs: () => ({ 'karpenter-mode': 'helm' }),
    message: ['input "karpenter-mode"', '"helm" is not supported', 'accepted: kind, registry, process, existing'],
  },
  {
    name: 'karpenter-version not a tag',
    inputs: () => ({ 'karpenter-version': 'latest' }),
    message: ['input "karpenter-version"', '"latest" is not a release version', 'accepted: a version tag such as v1.8.0'],
  },
  {
    name: 'karpenter-version without v',
    inputs: () => ({ 'karpenter-version': '1.8.0' }),
    message: ['input "karpenter-version"', '"1.8.0" is not a release version'],
  },
  {
    name: 'karpenter-version before v1 APIs',
    inputs: () => ({ 'karpenter-version': 'v0.37.0' }),
    message: ['input "karpenter-version"', 'v0.37.0 predates the karpenter.sh/v1 APIs', 'accepted: v1.0.0 or later'],
  },
  { name: 'ko-version malformed', inputs: () => ({ 'ko-version': '0.18' }), message: ['input "ko-version"', '"0.18" is not a release version'] },
  { name: 'helm-version malformed', inputs: () => ({ 'helm-version': 'v3' }), message: ['input "helm-version"', '"v3" is not a release version'] },
  {
    name: 'kwok-install not install/skip',
    inputs: () => ({ 'kwok-install': 'maybe' }),
    message: ['input "kwok-install"', '"maybe" is not supported', 'accepted: install, skip'],
  },
  {
    name: 'kwok-chart-repository not a URL',
    inputs: () => ({ 'kwok-chart-repository': 'charts here' }),
    message: ['input "kwok-chart-repository"', 'is not a URL', 'accepted: an absolute URL with scheme https or http or oci'],
  },
  {
    name: 'kwok-chart-repository ftp',
    inputs: () => ({ 'kwok-chart-repository': 'ftp://charts.example/' }),
    message: ['input "kwok-chart-repository"', 'has scheme ftp:'],
  },
  {
    name: 'image-repository with a tag',
    inputs: () => ({ 'image-repository': 'ghcr.io/org/karpenter:latest' }),
    message: ['input "image-repository"', 'is not an image repository', 'accepted: registry/path without tag or digest'],
  },
  {
    name: 'registry mode without image-repository',
    inputs: () => ({ 'karpenter-mode': 'registry' }),
    message: ['input "image-repository"', 'is empty but karpenter-mode is registry'],
  },
  {
    name: 'tools-mirror with credentials',
    inputs: () => ({ 'tools-mirror': 'https://user:secret@mirror.example/' }),
    message: ['input "tools-mirror"', 'the URL carries credentials'],
  },
  {
    name: 'tools-mirror gopher',
    inputs: () => ({ 'tools-mirror': 'gopher://mirror.example/' }),
    message: ['input "tools-mirror"', 'accepted: an absolute URL with scheme https or http or file'],
  },
  { name: 'unknown scenario', inputs: () => ({ scenario: 'gpu' }), message: ['input "scenario"', '"gpu" is not supported', 'accepted: metric, pending-pods'] },
  { name: 'metric-name starting with a digit', inputs: () => ({ 'metric-name': '1gpu' }), message: ['input "metric-name"', '"1gpu" is not a metric name'] },
  { name: 'metric-name with a selector', inputs: () => ({ 'metric-name': 'dcgm{gpu="0"}' }), message: ['input "metric-name"', 'is not a metric name'] },
  {
    name: 'metric-target zero',
    inputs: () => ({ 'metric-target': '0' }),
    message: ['input "metric-target"', '"0" is not a positive quantity', 'accepted: a Kubernetes quantity greater than 0'],
  },
  { name: 'metric-target negative', inputs: () => ({ 'metric-target': '-5' }), message: ['input "metric-target"', '"-5" is not a positive quantity'] },
  { name: 'metric-target a word', inputs: () => ({ 'metric-target': 'ten' }), message: ['input "metric-target"', '"ten" is not a positive quantity'] },
  {
    name: 'min-replicas zero',
    inputs: () => ({ 'min-replicas': '0' }),
    message: ['input "min-replicas"', '0 is out of range', 'accepted: an integer from 1 to 1000'],
  },
  { name: 'max-replicas above 1000', inputs: () => ({ 'max-replicas': '1001' }), message: ['input "max-replicas"', '1001 is out of range'] },
  { name: 'max-replicas a word', inputs: () => ({ 'max-replicas': 'many' }), message: ['input "max-replicas"', '"many" is not an integer'] },
  {
    name: 'max-replicas equal to min-replicas',
    inputs: () => ({ 'min-replicas': '3', 'max-replicas': '3' }),
    message: ['input "max-replicas"', '3 is not above min-replicas 3', 'accepted: max-replicas greater than min-replicas'],
  },
  {
    name: 'gpus-per-pod zero',
    inputs: () => ({ 'gpus-per-pod': '0' }),
    message: ['input "gpus-per-pod"', '0 is out of range', 'accepted: an integer from 1 to 16'],
  },
  { name: 'gpus-per-pod 17', inputs: () => ({ 'gpus-per-pod': '17' }), message: ['input "gpus-per-pod"', '17 is out of range'] },
  { name: 'gpus-per-pod fractional', inputs: () => ({ 'gpus-per-pod': '2.5' }), message: ['input "gpus-per-pod"', '"2.5" is not an integer'] },
  {
    name: 'unknown consolidation policy',
    inputs: () => ({ consolidation: 'strict' }),
    message: ['input "consolidation"', '"strict" is not supported', 'accepted: require, warn, skip'],
  },
  {
    name: 'cleanup-stale not a boolean',
    inputs: () => ({ 'cleanup-stale': 'yes' }),
    message: ['input "cleanup-stale"', '"yes" is not a boolean', 'accepted: true or false'],
  },
  {
    name: 'timeouts with a bad duration',
    inputs: () => ({ timeouts: 'hpa=forever' }),
    message: ['input "timeouts"', 'hpa: "forever" is not a duration', 'accepted: a duration such as 90s'],
  },
  {
    name: 'timeouts for an unknown stage',
    inputs: () => ({ timeouts: 'warp=5m' }),
    message: ['input "timeouts"', '"warp" is not a stage', 'accepted: preflight, tools'],
  },
  { name: 'timeouts not name=duration', inputs: () => ({ timeouts: 'hpa:5m' }), message: ['input "timeouts"', '"hpa:5m" is not name=duration'] },
  { name: 'timeout below 1 s', inputs: () => ({ timeouts: 'provision=500ms' }), message: ['input "timeouts"', '"500ms" is out of range', 'from 1s to 24h'] },
  { name: 'timeout above 24 h', inputs: () => ({ timeouts: 'provision=25h' }), message: ['input "timeouts"', '"25h" is out of range'] },
  {
    name: 'unknown stage',
    inputs: () => ({ stages: 'preflight,deploy' }),
    message: ['input "stages"', '"deploy" not known', 'accepted: a comma-separated subset of preflight'],
  },
  {
    name: 'stages without the workload they need',
    inputs: () => ({ stages: 'preflight,provision' }),
    message: ['input "stages"', 'provision need the workload stage', 'accepted: add workload'],
  },
  {
    name: 'artifact-name with a slash',
    inputs: () => ({ 'artifact-name': 'evidence/run' }),
    message: ['input "artifact-name"', 'is not an artifact name', 'without " < > : | * ? \\ /'],
  },
  {
    name: 'retention-days above 90',
    inputs: () => ({ 'retention-days': '91' }),
    message: ['input "retention-days"', '91 is out of range', 'accepted: an integer from 0 to 90'],
  },
  { name: 'retention-days negative', inputs: () => ({ 'retention-days': '-1' }), message: ['input "retention-days"', '-1 is out of range'] },
  { name: 'summary not a boolean', inputs: () => ({ summary: 'on' }), message: ['input "summary"', '"on" is not a boolean'] },
  // nodepool files
  {
    name: 'nodepool file missing',
    inputs: () => ({ nodepool: path.join(tmp, 'absent.yaml') }),
    message: ['input "nodepool"', 'cannot read', 'ENOENT', 'accepted: a readable file path'],
  },
  {
    name: 'nodepool file not YAML',
    inputs: () => ({ nodepool: file('bad.yaml', 'kind: NodePool\n  metadata: [\n') }),
    message: ['input "nodepool"', 'is not valid YAML'],
  },
  {
    name: 'nodepool file of the wrong kind (a Deployment)',
    inputs: () => ({ nodepool: file('deploy.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n') }),
    message: [
      'input "nodepool"',
      'must hold exactly one NodePool (found 0; the file holds apps/v1/Deployment)',
      'accepted: one karpenter.sh/v1 NodePool and one karpenter.kwok.sh/v1alpha1 KWOKNodeClass',
    ],
  },
  {
    name: 'nodepool file holding a list',
    inputs: () => ({ nodepool: file('list.yaml', '- a\n- b\n') }),
    message: ['input "nodepool"', 'not a Kubernetes object'],
    count: 2,
  },
  {
    name: 'nodepool file with two NodePools',
    inputs: () => ({ nodepool: file('two.yaml', `${POOL('')}---\napiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: other}\n`) }),
    message: ['input "nodepool"', 'must hold exactly one NodePool (found 2'],
  },
  {
    name: 'nodepool of the beta API',
    inputs: () => ({ nodepool: file('beta.yaml', POOL('').replace('karpenter.sh/v1\n', 'karpenter.sh/v1beta1\n')) }),
    message: ['input "nodepool"', 'NodePool has apiVersion karpenter.sh/v1beta1; accepted: karpenter.sh/v1'],
  },
  {
    name: 'nodepool referencing a KWOKNodeClass it does not define',
    inputs: () => ({ nodepool: file('noclass.yaml', POOL('').replace(/---[\s\S]*$/, '')) }),
    message: ['input "nodepool"', 'references KWOKNodeClass "default", which the file does not define'],
  },
  {
    name: 'nodepool referencing an EC2NodeClass (not KWOK)',
    inputs: () => ({
      nodepool: file('ec2.yaml', POOL('').replace('group: karpenter.kwok.sh, kind: KWOKNodeClass', 'group: karpenter.k8s.aws, kind: EC2NodeClass')),
    }),
    message: ['input "nodepool"', 'nodeClassRef must name a KWOKNodeClass'],
  },
  {
    name: 'nodepool GPU limit not a number',
    inputs: () => ({ nodepool: file('limit.yaml', POOL('  limits: {nvidia.com/gpu: lots}\n')) }),
    message: ['input "nodepool"', 'spec.limits["nvidia.com/gpu"] is "lots"', 'accepted: a whole number of GPUs'],
  },
  // instance-types files
  {
    name: 'instance-types file missing',
    inputs: () => ({ 'instance-types': path.join(tmp, 'absent.json') }),
    message: ['input "instance-types"', 'cannot read', 'ENOENT'],
  },
  {
    name: 'instance-types not JSON (a NodePool YAML)',
    inputs: () => ({ 'instance-types': file('types.yaml', POOL('')) }),
    message: ['input "instance-types"', 'is not valid JSON'],
  },
  {
    name: 'instance-types an object, not a list',
    inputs: () => ({ 'instance-types': file('obj.json', JSON.stringify(TYPE({ 'nvidia.com/gpu': '1' }))) }),
    message: ['input "instance-types"', 'must be a non-empty JSON array of instance types'],
  },
  {
    name: 'instance-types empty list',
    inputs: () => ({ 'instance-types': file('empty.json', '[]') }),
    message: ['input "instance-types"', 'must be a non-empty JSON array'],
  },
  {
    name: 'instance type without offerings',
    inputs: () => ({ 'instance-types': file('nooffer.json', JSON.stringify([TYPE({ 'nvidia.com/gpu': '1' }, { offerings: [] })])) }),
    message: ['input "instance-types"', 'instance type "x1" has no offerings'],
  },
  {
    name: 'instance type offering without a price',
    inputs: () => ({
      'instance-types': file('noprice.json', JSON.stringify([TYPE({ 'nvidia.com/gpu': '1' }, { offerings: [{ Available: true, Requirements: [] }] })])),
    }),
    message: ['input "instance-types"', 'instance type "x1" offering 0 has no numeric Price'],
  },
  {
    name: 'instance types without any GPU',
    inputs: () => ({ 'instance-types': file('nogpu.json', JSON.stringify([TYPE({})])) }),
    message: ['input "instance-types"', 'has no instance type with nvidia.com/gpu in its resources'],
  },
  {
    name: 'gpus-per-pod above the largest instance type',
    inputs: () => ({ 'gpus-per-pod': '16' }),
    message: ['input "instance-types"', 'has no instance type with 16 GPUs for gpus-per-pod 16 (the largest has 8)'],
  },
];

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
    expect(r.post.stdout).toContain('nothing to clean up');
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
    const kubeconfig = variantKubeconfig('unreachable.kubeconfig', { server: 'https://127.0.0.1:9', user: '{token: unreachable-token-0123456789}' });
    const r = await run({ kubeconfig, timeouts: 'preflight=20s' });
    expect(r.outputs).toMatchObject({ result: 'fail', 'failed-stage': 'preflight' });
    expect(r.main.stdout).toMatch(/::error::preflight: Expected the Kubernetes API at https:\/\/127\.0\.0\.1:9 to answer; it did not/);
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
      /::error::preflight: Expected the Kubernetes API at https:\/\/127\.0\.0\.1:\d+ to answer; it did not: .*(certificate|self.signed|verify)/i,
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
    const perms = requiredPermissions(config, 'gpu-conformance-norbac');
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
    expect(line).toMatch(/unknown revision|not found|invalid version/i);
    const results = JSON.parse(fs.readFileSync(path.join(r.evidenceDir, 'results.json'), 'utf8')) as { stages: { name: string; status: string }[] };
    const status = Object.fromEntries(results.stages.map((s) => [s.name, s.status]));
    expect(status).toMatchObject({ preflight: 'pass', 'karpenter-build': 'fail', cleanup: 'pass' });
    const after = results.stages.slice(results.stages.findIndex((s) => s.name === 'karpenter-build') + 1, -1);
    expect(after.map((s) => s.status)).toEqual(after.map(() => 'skip'));
    await expectUntouched(r, bed.kubeconfig);
  });
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INPUT_DEFAULTS, STAGE_TIMEOUTS_MS } from '../../src/defaults.js';
import { readConfig } from '../../src/inputs.js';

const root = path.resolve(import.meta.dirname, '../..');
process.env.GAC_ACTION_ROOT = root;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inputs-'));
const file = (name: string, text: string): string => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
};
const env = { RUNNER_TEMP: tmp };
const errorsFor = (inputs: Record<string, string>): string[] => readConfig((n) => inputs[n] ?? '', env).errors;

const pool = fs.readFileSync(path.join(root, 'manifests/nodepool.yaml'), 'utf8');
const types = JSON.parse(fs.readFileSync(path.join(root, 'manifests/instance-types.json'), 'utf8')) as Record<string, unknown>[];
const kubeconfig = file(
  'kubeconfig',
  'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: abcdefgh12345}}]\ncontexts: [{name: bed, context: {cluster: c, user: u}}]\ncurrent-context: bed\n',
);

describe('readConfig', () => {
  it('builds the config from defaults alone', () => {
    const { config, errors } = readConfig(() => '', env);
    expect(errors).toEqual([]);
    expect(config).toMatchObject({
      karpenterMode: 'process',
      karpenterVersion: 'v1.8.0',
      scenario: 'metric',
      metricName: 'dcgm_gpu_power_usage',
      minReplicas: 1,
      maxReplicas: 4,
      gpusPerPod: 1,
      consolidation: 'require',
      nodePool: { name: 'gpu', gpuLimit: 64, consolidateAfter: '10s' },
      timeouts: STAGE_TIMEOUTS_MS,
    });
    expect(config!.stages.at(-1)).toBe('cleanup');
    expect(config!.instanceTypes.map((t) => t.name).sort()).toEqual(['g5.2xlarge', 'g5.xlarge', 'p5.48xlarge']);
    expect(config!.evidenceDir).toBe(path.join(tmp, 'gpu-autoscaling-conformance', config!.runId));
  });

  it('derives the run id from the workflow run, unique per job', () => {
    const a = readConfig(() => '', { GITHUB_RUN_ID: '42', GITHUB_RUN_ATTEMPT: '2' }).config!;
    const b = readConfig(() => '', { GITHUB_RUN_ID: '42', GITHUB_RUN_ATTEMPT: '2' }).config!;
    expect(a.runId).toMatch(/^42-2-[0-9a-f]{6}$/);
    expect(a.runId).not.toBe(b.runId);
  });

  it('applies timeouts and selects stages in chain order with cleanup always last', () => {
    const { config } = readConfig((n) => ({ timeouts: 'hpa=3m, provision=1m30s', stages: 'workload,preflight,hpa' })[n] ?? '', env);
    expect(config!.timeouts.hpa).toBe(180_000);
    expect(config!.timeouts.provision).toBe(90_000);
    expect(config!.timeouts.schedule).toBe(STAGE_TIMEOUTS_MS.schedule);
    expect(config!.stages).toEqual(['preflight', 'workload', 'hpa', 'cleanup']);
  });

  it('accepts a kubeconfig and one of its contexts', () => {
    const { config, errors } = readConfig((n) => ({ kubeconfig, context: 'bed' })[n] ?? '', env);
    expect(errors).toEqual([]);
    expect(config).toMatchObject({ kubeconfig, context: 'bed' });
  });

  it('reports every problem at once', () => {
    const errors = errorsFor({ 'max-replicas': 'x', 'gpus-per-pod': '0', scenario: 'gpu' });
    expect(errors).toHaveLength(3);
  });

  const noPool = file('no-pool.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
  const v1beta1 = file('v1beta1.yaml', pool.replace('apiVersion: karpenter.sh/v1\n', 'apiVersion: karpenter.sh/v1beta1\n'));
  const noClass = file('no-class.yaml', pool.split('---')[0]!);
  const badYaml = file('bad.yaml', 'kind: NodePool\n  metadata: [\n');
  const badLimit = file('bad-limit.yaml', pool.replace('nvidia.com/gpu: 64', 'nvidia.com/gpu: lots'));
  const twoPools = file('two-pools.yaml', `${pool}\n---\n${pool.split('---')[0]!}`);
  const wrongRef = file('wrong-ref.yaml', pool.replace('kind: KWOKNodeClass\n        name', 'kind: EC2NodeClass\n        name'));
  const noName = file('no-name.yaml', JSON.stringify(types.map(({ name: _n, ...rest }) => rest)));
  const noPrice = file('no-price.json', JSON.stringify([{ ...types[0], offerings: [{ Available: true, Requirements: [] }] }]));
  const noGpu = file('no-gpu.json', JSON.stringify(types.map((t) => ({ ...t, resources: { cpu: '4' } }))));
  const notJson = file('not.json', '{ name: ');
  const emptyArr = file('empty.json', '[]');
  const noReqs = file('no-reqs.json', JSON.stringify([{ ...types[0], offerings: [{ Price: 1, Available: true }] }]));
  const brokenKubeconfig = file('broken-kubeconfig', 'this: [is not\n');

  // Each bad input, with the exact message a user sees.
  const cases: [string, Record<string, string>, string][] = [
    ['non-integer max-replicas', { 'max-replicas': 'four' }, 'input "max-replicas": "four" is not an integer; accepted: an integer from 1 to 1000'],
    ['max-replicas out of range', { 'max-replicas': '5000' }, 'input "max-replicas": 5000 is out of range; accepted: an integer from 1 to 1000'],
    ['min-replicas zero', { 'min-replicas': '0' }, 'input "min-replicas": 0 is out of range; accepted: an integer from 1 to 1000'],
    [
      'min not below max',
      { 'min-replicas': '4', 'max-replicas': '4' },
      'input "max-replicas": 4 is not above min-replicas 4; accepted: max-replicas greater than min-replicas, so the HPA has room to scale out',
    ],
    ['gpus-per-pod zero', { 'gpus-per-pod': '0' }, 'input "gpus-per-pod": 0 is out of range; accepted: an integer from 1 to 16'],
    ['gpus-per-pod fraction', { 'gpus-per-pod': '1.5' }, 'input "gpus-per-pod": "1.5" is not an integer; accepted: an integer from 1 to 16'],
    ['unknown mode', { 'karpenter-mode': 'helm' }, 'input "karpenter-mode": "helm" is not supported; accepted: kind, registry, process, existing'],
    ['unknown scenario', { scenario: 'gpu' }, 'input "scenario": "gpu" is not supported; accepted: metric, pending-pods, n-plus-one'],
    ['unknown consolidation', { consolidation: 'maybe' }, 'input "consolidation": "maybe" is not supported; accepted: require, warn, skip'],
    ['unknown kwok-install', { 'kwok-install': 'yes' }, 'input "kwok-install": "yes" is not supported; accepted: install, skip'],
    [
      'version without v',
      { 'karpenter-version': '1.8.0' },
      'input "karpenter-version": "1.8.0" is not a release version; accepted: a version tag such as v1.8.0',
    ],
    ['pre-v1 karpenter', { 'karpenter-version': 'v0.37.0' }, 'input "karpenter-version": v0.37.0 predates the karpenter.sh/v1 APIs; accepted: v1.0.0 or later'],
    ['helm version garbage', { 'helm-version': 'latest' }, 'input "helm-version": "latest" is not a release version; accepted: a version tag such as v1.8.0'],
    [
      'Helm 2',
      { 'helm-version': 'v2.17.0' },
      'input "helm-version": v2.17.0 is not a Helm 3 or Helm 4 release; accepted: v3.x.y or v4.x.y, such as v3.19.5 or v4.1.1',
    ],
    [
      'Helm 5',
      { 'helm-version': 'v5.0.0' },
      'input "helm-version": v5.0.0 is not a Helm 3 or Helm 4 release; accepted: v3.x.y or v4.x.y, such as v3.19.5 or v4.1.1',
    ],
    ['ko version garbage', { 'ko-version': 'v1.2' }, 'input "ko-version": "v1.2" is not a release version; accepted: a version tag such as v1.8.0'],
    [
      'duration without unit',
      { timeouts: 'hpa=90' },
      'input "timeouts": hpa: "90" is not a duration; accepted: a duration such as 90s, 5m or 1m30s (units ms, s, m, h), from 1s to 24h',
    ],
    [
      'duration too long',
      { timeouts: 'provision=48h' },
      'input "timeouts": provision: "48h" is out of range; accepted: a duration such as 90s, 5m or 1m30s (units ms, s, m, h), from 1s to 24h',
    ],
    [
      'timeout for unknown stage',
      { timeouts: 'scale=5m' },
      'input "timeouts": "scale" is not a stage; accepted: preflight, tools, karpenter-build, karpenter-install, nodepool, metric, workload, hpa, pending, provision, schedule, consolidation, cleanup',
    ],
    [
      'timeouts not a list',
      { timeouts: 'five minutes' },
      'input "timeouts": "five minutes" is not name=duration; accepted: a list such as hpa=3m, provision=5m',
    ],
    [
      'unknown stage',
      { stages: 'preflight,scale' },
      'input "stages": "scale" not known; accepted: a comma-separated subset of preflight, tools, karpenter-build, karpenter-install, nodepool, metric, workload, hpa, pending, provision, schedule, consolidation, cleanup',
    ],
    ['stage without its workload', { stages: 'preflight,hpa' }, 'input "stages": hpa need the workload stage; accepted: add workload to the list'],
    [
      'namespace prefix uppercase',
      { 'namespace-prefix': 'GPU' },
      'input "namespace-prefix": "GPU" is not a valid name; accepted: lowercase letters, digits and \'-\', starting and ending with a letter or digit, at most 40 characters',
    ],
    [
      'lease namespace not a DNS label',
      { 'lease-namespace': 'Kube.System' },
      'input "lease-namespace": "Kube.System" is not a valid name; accepted: lowercase letters, digits and \'-\', starting and ending with a letter or digit, at most 63 characters',
    ],
    [
      'run id too long',
      { 'run-id': 'a'.repeat(30) },
      `input "run-id": "${'a'.repeat(30)}" is not a valid name; accepted: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 22 characters`,
    ],
    [
      'cluster name with underscore',
      { 'cluster-name': 'my_kind' },
      'input "cluster-name": "my_kind" is not a valid name; accepted: lowercase letters, digits and \'-\', starting and ending with a letter or digit, at most 63 characters',
    ],
    [
      'metric target zero',
      { 'metric-target': '0' },
      'input "metric-target": "0" is not a positive quantity; accepted: a Kubernetes quantity greater than 0 such as 100, 2.5 or 500m',
    ],
    [
      'metric target words',
      { 'metric-target': 'high' },
      'input "metric-target": "high" is not a positive quantity; accepted: a Kubernetes quantity greater than 0 such as 100, 2.5 or 500m',
    ],
    [
      'metric name with spaces',
      { 'metric-name': 'gpu power' },
      "input \"metric-name\": \"gpu power\" is not a metric name; accepted: letters, digits, '_', ':', '.', '-', starting with a letter or '_'",
    ],
    ['boolean yes', { 'cleanup-stale': 'yes' }, 'input "cleanup-stale": "yes" is not a boolean; accepted: true or false'],
    ['summary on', { summary: 'on' }, 'input "summary": "on" is not a boolean; accepted: true or false'],
    ['retention too long', { 'retention-days': '365' }, 'input "retention-days": 365 is out of range; accepted: an integer from 0 to 90'],
    [
      'artifact name with slash',
      { 'artifact-name': 'a/b' },
      'input "artifact-name": "a/b" is not an artifact name; accepted: 1-200 characters without " < > : | * ? \\ / or line breaks',
    ],
    [
      'mirror not a URL',
      { 'tools-mirror': 'mirror.local' },
      'input "tools-mirror": "mirror.local" is not a URL; accepted: an absolute URL with scheme https or http or file',
    ],
    [
      'mirror ftp',
      { 'tools-mirror': 'ftp://m/x' },
      'input "tools-mirror": "ftp://m/x" has scheme ftp:; accepted: an absolute URL with scheme https or http or file',
    ],
    [
      'mirror with credentials',
      { 'tools-mirror': 'https://u:p@m/x' },
      'input "tools-mirror": the URL carries credentials; accepted: an absolute URL with scheme https or http or file without user or password',
    ],
    [
      'registry mode without repository',
      { 'karpenter-mode': 'registry' },
      'input "image-repository": is empty but karpenter-mode is registry; accepted: the repository ko pushes to, e.g. ghcr.io/org/karpenter-kwok',
    ],
    [
      'image repository with tag',
      { 'image-repository': 'ghcr.io/org/k:v1' },
      'input "image-repository": "ghcr.io/org/k:v1" is not an image repository; accepted: registry/path without tag or digest, e.g. ghcr.io/org/karpenter-kwok',
    ],
    [
      'kubeconfig missing',
      { kubeconfig: path.join(tmp, 'nope') },
      `input "kubeconfig": ${path.join(tmp, 'nope')} does not exist; accepted: a path to a kubeconfig file`,
    ],
    ['context not in kubeconfig', { kubeconfig, context: 'prod' }, `input "context": "prod" is not in ${kubeconfig}; accepted: bed`],
    [
      'nodepool missing',
      { nodepool: path.join(tmp, 'missing.yaml') },
      `input "nodepool": cannot read ${path.join(tmp, 'missing.yaml')} (ENOENT); accepted: a readable file path`,
    ],
    [
      'nodepool of the wrong kind',
      { nodepool: noPool },
      `input "nodepool": ${noPool} must hold exactly one NodePool (found 0; the file holds v1/ConfigMap); accepted: one karpenter.sh/v1 NodePool and one karpenter.kwok.sh/v1alpha1 KWOKNodeClass`,
    ],
    ['nodepool v1beta1', { nodepool: v1beta1 }, `input "nodepool": ${v1beta1} NodePool has apiVersion karpenter.sh/v1beta1; accepted: karpenter.sh/v1`],
    [
      'nodepool without its class',
      { nodepool: noClass },
      `input "nodepool": ${noClass} NodePool references KWOKNodeClass "default", which the file does not define; accepted: a karpenter.kwok.sh/v1alpha1 KWOKNodeClass of that name in the same file`,
    ],
    [
      'nodepool not YAML',
      { nodepool: badYaml },
      `input "nodepool": ${badYaml} is not valid YAML: Nested mappings are not allowed in compact mappings at line 1, column 7:`,
    ],
    [
      'nodepool GPU limit not a number',
      { nodepool: badLimit },
      `input "nodepool": ${badLimit} NodePool spec.limits["nvidia.com/gpu"] is "lots"; accepted: a whole number of GPUs`,
    ],
    [
      'two NodePools',
      { nodepool: twoPools },
      `input "nodepool": ${twoPools} must hold exactly one NodePool (found 2; the file holds karpenter.sh/v1/NodePool, karpenter.kwok.sh/v1alpha1/KWOKNodeClass, karpenter.sh/v1/NodePool); accepted: one karpenter.sh/v1 NodePool and one karpenter.kwok.sh/v1alpha1 KWOKNodeClass`,
    ],
    [
      'NodePool for another provider',
      { nodepool: wrongRef },
      `input "nodepool": ${wrongRef} NodePool spec.template.spec.nodeClassRef must name a KWOKNodeClass (group karpenter.kwok.sh, kind KWOKNodeClass, name)`,
    ],
    [
      'instance types not JSON',
      { 'instance-types': notJson },
      `input "instance-types": ${notJson} is not valid JSON: Expected property name or '}' in JSON at position 2 (line 1 column 3)`,
    ],
    ['instance types empty', { 'instance-types': emptyArr }, `input "instance-types": ${emptyArr} must be a non-empty JSON array of instance types`],
    ['instance type without name', { 'instance-types': noName }, `input "instance-types": ${noName} entry 0 has no name`],
    [
      'offering without price',
      { 'instance-types': noPrice },
      `input "instance-types": ${noPrice} instance type "${String(types[0]!.name)}" offering 0 has no numeric Price`,
    ],
    [
      'offering without requirements',
      { 'instance-types': noReqs },
      `input "instance-types": ${noReqs} instance type "${String(types[0]!.name)}" offering 0 needs Requirements: a list of {key, operator, values}`,
    ],
    ['no GPU instance type', { 'instance-types': noGpu }, `input "instance-types": ${noGpu} has no instance type with nvidia.com/gpu in its resources`],
    [
      'no type big enough',
      { 'gpus-per-pod': '16' },
      `input "instance-types": ${path.join(root, 'manifests/instance-types.json')} has no instance type with 16 GPUs for gpus-per-pod 16 (the largest has 8)`,
    ],
  ];
  it.each(cases)('rejects %s', (_label, inputs, message) => {
    expect(errorsFor(inputs)).toContain(message);
  });

  it('accepts Helm 4 releases as helm-version (kind and registry modes)', () => {
    for (const v of ['v4.1.1', 'v4.0.0', 'v4.1.0-rc.1', 'v3.19.5']) {
      const r = readConfig((n) => ({ 'karpenter-mode': 'kind', 'helm-version': v })[n] ?? '', env);
      expect(r.errors, v).toEqual([]);
      expect(r.config!.helmVersion).toBe(v);
    }
  });

  it('lets pending-pods run one pod (no HPA, so min-replicas need not be below max)', () => {
    const { errors, config } = readConfig((n) => ({ scenario: 'pending-pods', 'max-replicas': '1' })[n] ?? '', env);
    expect(errors).toEqual([]);
    expect(config).toMatchObject({ minReplicas: 1, maxReplicas: 1 });
  });

  it('accepts a NodePool of another provider in existing mode (a real cluster)', () => {
    const { errors, config } = readConfig((n) => ({ nodepool: wrongRef, 'karpenter-mode': 'existing' })[n] ?? '', env);
    expect(errors).toEqual([]);
    expect(config!.nodePool.name).toBe('gpu');
  });

  it('rejects a kubeconfig that does not parse, naming the file', () => {
    const [error] = errorsFor({ kubeconfig: brokenKubeconfig });
    expect(error).toMatch(new RegExp(`^input "kubeconfig": ${brokenKubeconfig} is not a valid kubeconfig \\(.+\\); accepted: a kubeconfig file$`));
  });
});

describe('action.yml', () => {
  const action = parse(fs.readFileSync(path.join(root, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { default?: string; description: string }>;
    outputs: Record<string, { description: string }>;
    runs: Record<string, string>;
  };
  it('has the same inputs and defaults as the code', () => {
    const declared = Object.fromEntries(Object.entries(action.inputs).map(([k, v]) => [k, v.default ?? '']));
    expect(declared).toEqual(INPUT_DEFAULTS);
  });
  it('runs one bundle on node24 for main and post', () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/index.js', post: 'dist/index.js', 'post-if': 'always()' });
  });
  it('documents every input and output', () => {
    for (const [name, input] of Object.entries({ ...action.inputs, ...action.outputs })) expect(input.description, name).toMatch(/\w{4,}/);
  });
});

// Issue 14, point 7: wording of input errors and warnings.
describe('long values in messages', () => {
  it('a 10 kB run-id is cut to its first characters and its length', () => {
    const long = 'a'.repeat(10_469);
    const [error] = errorsFor({ 'run-id': long });
    expect(error).toBe(
      `input "run-id": "${'a'.repeat(60)}…" (10469 characters) is not a valid name; accepted: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 22 characters`,
    );
    expect(error!.length).toBeLessThan(300);
  });
  it('every parser cuts long values; line breaks stay escaped', () => {
    const long = `x\n${'y'.repeat(5000)}`;
    for (const name of ['max-replicas', 'karpenter-mode', 'metric-target', 'tools-mirror', 'summary', 'karpenter-version', 'metric-name', 'artifact-name']) {
      const errors = errorsFor({ [name]: long });
      const mine = errors.find((e) => e.startsWith(`input "${name}"`));
      expect(mine, name).toContain('(5002 characters)');
      expect(mine!.length, name).toBeLessThan(400);
      expect(mine, name).not.toContain('\n');
    }
  });
  it('a long stages list names five unknown stages and how many more', () => {
    const [error] = errorsFor({ stages: Array.from({ length: 40 }, (_, i) => `s${i}`).join(',') });
    expect(error).toBe(
      'input "stages": "s0", "s1", "s2", "s3", "s4" and 35 more not known; accepted: a comma-separated subset of preflight, tools, karpenter-build, karpenter-install, nodepool, metric, workload, hpa, pending, provision, schedule, consolidation, cleanup',
    );
  });
  it('a short value is shown in full, as before', () => {
    expect(errorsFor({ 'max-replicas': 'four' })).toEqual(['input "max-replicas": "four" is not an integer; accepted: an integer from 1 to 1000']);
  });
});

describe('a file that is not a kubeconfig', () => {
  const accepted = 'accepted: a kubeconfig file (kind: Config with clusters, users and contexts)';
  const shadowLike = 'root:$y$j9T$S3cr3tHashValue$abcdefghijklmnop:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n';
  it.each([
    ['a shadow-like password file', shadowLike, 'it is a YAML mapping without clusters or contexts'],
    ['plain text', 'just some words\non two lines\n', 'it is plain text, not a YAML mapping'],
    ['binary data', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x00, 0xff, 0xfe, 0x00]), 'it holds binary data, not text'],
    ['text with NUL bytes', 'a\0b', 'it holds binary data, not text'],
    ['an empty file', '', 'the file is empty'],
    ['a YAML list', '- a\n- b\n', 'it is a YAML list, not a mapping'],
    ['another kind of object (the NodePool file)', pool.split('---')[0]!, 'it is a "NodePool" object, not kind: Config'],
    ['a mapping without clusters or contexts', 'apiVersion: v1\nfoo: bar\n', 'it is a YAML mapping without clusters or contexts'],
  ] as [string, string | Buffer, string][])('says so for %s, without repeating its content', (label, content, why) => {
    const p = path.join(tmp, `notkc-${label.replace(/\W+/g, '-')}`);
    fs.writeFileSync(p, content);
    const errors = errorsFor({ kubeconfig: p });
    expect(errors).toEqual([`input "kubeconfig": ${p} is not a kubeconfig: ${why}; ${accepted}`]);
    expect(errors[0]).not.toContain('S3cr3tHash');
  });
  it('an unreadable file is "cannot read", a directory too', () => {
    expect(errorsFor({ kubeconfig: tmp })).toEqual([`input "kubeconfig": cannot read ${tmp} (EISDIR); accepted: a readable kubeconfig file`]);
  });
  it('/etc/shadow is never "has no current-context"', () => {
    const [error] = errorsFor({ kubeconfig: '/etc/shadow' });
    // Readable (root) or not, it is said plainly.
    expect(error).toMatch(/^input "kubeconfig": (\/etc\/shadow is not a kubeconfig: |cannot read \/etc\/shadow \(EACCES\))/);
  });
  it('a kubeconfig that has contexts but no current-context still says so', () => {
    const p = file('nocurrent.kubeconfig', 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n');
    expect(errorsFor({ kubeconfig: p })).toEqual([`input "kubeconfig": ${p} has no current-context; accepted: set the context input to one of a`]);
  });
});

describe('inputs with no effect in the chosen mode or scenario', () => {
  const warningsFor = (inputs: Record<string, string>) => readConfig((n) => inputs[n] ?? '', env).warnings;
  it('none for the defaults, nor for a kind run that sets what kind mode reads', () => {
    expect(warningsFor({})).toEqual([]);
    expect(warningsFor({ 'karpenter-mode': 'kind', 'cluster-name': 'ci', 'tools-mirror': 'file:///srv/mirror', 'ko-version': 'v0.18.0' })).toEqual([]);
  });
  it('tools-mirror, ko, helm, image repository and KWOK chart inputs in process mode', () => {
    const w = warningsFor({
      'tools-mirror': 'file:///srv/mirror',
      'ko-version': 'v0.17.0',
      'helm-version': 'v3.18.0',
      'image-repository': 'ghcr.io/org/k',
      'kwok-chart-repository': 'https://mirror.example/charts',
      'cluster-name': 'ci',
    });
    expect(w).toEqual([
      'input "cluster-name": has no effect in karpenter-mode process: it names the kind cluster the image is side-loaded into, used only in karpenter-mode kind; remove it, or choose that mode',
      'input "image-repository": has no effect in karpenter-mode process: it is where ko pushes the image, used only in karpenter-mode registry; remove it, or choose that mode',
      'input "ko-version": has no effect in karpenter-mode process: it is the ko that builds the image, used only in karpenter-mode kind or registry; remove it, or choose that mode',
      'input "helm-version": has no effect in karpenter-mode process: it is the Helm that installs the charts, used only in karpenter-mode kind or registry; remove it, or choose that mode',
      'input "tools-mirror": has no effect in karpenter-mode process: it serves the ko and Helm downloads, used only in karpenter-mode kind or registry; remove it, or choose that mode',
      'input "kwok-chart-repository": has no effect in karpenter-mode process: it serves the KWOK controller charts, used only in karpenter-mode kind or registry; remove it, or choose that mode',
    ]);
  });
  it('cluster-name outside kind mode, karpenter-version in existing mode, metric inputs in pending-pods', () => {
    expect(warningsFor({ 'karpenter-mode': 'registry', 'image-repository': 'ghcr.io/org/k', 'cluster-name': 'ci' })).toEqual([
      expect.stringMatching(/^input "cluster-name": has no effect in karpenter-mode registry/),
    ]);
    expect(warningsFor({ 'karpenter-mode': 'existing', 'karpenter-version': 'v1.9.0' })).toEqual([
      expect.stringMatching(/^input "karpenter-version": has no effect in karpenter-mode existing/),
    ]);
    expect(warningsFor({ scenario: 'pending-pods', 'metric-name': 'x', 'metric-target': '5' })).toEqual([
      expect.stringMatching(/^input "metric-name": has no effect in scenario pending-pods/),
      expect.stringMatching(/^input "metric-target": has no effect in scenario pending-pods/),
    ]);
  });
  it('kwok-chart-repository with kwok-install: skip', () => {
    expect(warningsFor({ 'karpenter-mode': 'kind', 'kwok-install': 'skip', 'kwok-chart-repository': 'https://mirror.example/charts' })).toEqual([
      'input "kwok-chart-repository": has no effect with kwok-install: skip (nothing is installed from it); remove it, or set kwok-install: install',
    ]);
  });
  it('an input that is invalid gets its error, not also a warning', () => {
    const r = readConfig((n) => ({ 'tools-mirror': 'gopher://x/', 'cluster-name': 'ci' })[n] ?? '', env);
    expect(r.errors).toEqual([expect.stringMatching(/^input "tools-mirror": "gopher:\/\/x\/" has scheme gopher:/)]);
    expect(r.warnings).toEqual([expect.stringMatching(/^input "cluster-name": has no effect/)]);
  });
  it('a value equal to the default (what the runner passes when the input is unset) is not a warning', () => {
    expect(warningsFor({ 'ko-version': INPUT_DEFAULTS['ko-version']!, 'cluster-name': 'kind' })).toEqual([]);
  });
});

describe('require-right-sizing', () => {
  it('defaults to false and accepts true', () => {
    expect(readConfig(() => '', env).config!.requireRightSizing).toBe(false);
    expect(readConfig((n) => (n === 'require-right-sizing' ? 'true' : ''), env).config!.requireRightSizing).toBe(true);
    expect(errorsFor({ 'require-right-sizing': 'yes' })).toEqual(['input "require-right-sizing": "yes" is not a boolean; accepted: true or false']);
  });
});

describe('scenario n-plus-one and baseline-nodes', () => {
  const read = (inputs: Record<string, string>) => readConfig((n) => inputs[n] ?? '', env);
  it("defaults to N = 1 with the conformance draft's 30 s window, added to the workload, provision and consolidation budgets", () => {
    const { errors, warnings, config } = read({ scenario: 'n-plus-one' });
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({ scenario: 'n-plus-one', baselineNodes: 1, stabilityWindowMs: 30_000 });
    expect(config!.timeouts.workload).toBe(STAGE_TIMEOUTS_MS.provision + 30_000);
    expect(config!.timeouts.provision).toBe(STAGE_TIMEOUTS_MS.provision + 30_000);
    expect(read({}).config!.baselineNodes).toBe(1);
    expect(read({}).config!.stabilityWindowMs).toBe(0);
  });
  it('accepts N from 1 to 32 and a window of its own; a workload timeout given is kept', () => {
    const { config } = read({ scenario: 'n-plus-one', 'baseline-nodes': '2', 'stability-window': '5s', timeouts: 'workload=4m' });
    expect(config).toMatchObject({ baselineNodes: 2, stabilityWindowMs: 5000 });
    expect(config!.timeouts.workload).toBe(240_000);
    expect(read({ scenario: 'n-plus-one', 'baseline-nodes': '32' }).config!.baselineNodes).toBe(32);
  });
  it.each([
    ['0', 'input "baseline-nodes": 0 is out of range; accepted: an integer from 1 to 32'],
    ['33', 'input "baseline-nodes": 33 is out of range; accepted: an integer from 1 to 32'],
    ['two', 'input "baseline-nodes": "two" is not an integer; accepted: an integer from 1 to 32'],
  ])('rejects baseline-nodes %s, naming the input and what is accepted', (v, message) => {
    expect(errorsFor({ scenario: 'n-plus-one', 'baseline-nodes': v })).toEqual([message]);
  });
  it('ignores min-replicas >= max-replicas (the trigger is one pod), but warns that they, and the metric inputs, have no effect', () => {
    const { errors, warnings } = read({ scenario: 'n-plus-one', 'min-replicas': '5', 'max-replicas': '2', 'metric-name': 'x' });
    expect(errors).toEqual([]);
    expect(warnings).toEqual([
      expect.stringMatching(/^input "metric-name": has no effect in scenario n-plus-one/),
      expect.stringMatching(/^input "min-replicas": has no effect in scenario n-plus-one/),
      expect.stringMatching(/^input "max-replicas": has no effect in scenario n-plus-one: .* used only in scenario metric or pending-pods/),
    ]);
  });
  it('warns when baseline-nodes is set with another scenario', () => {
    expect(read({ 'baseline-nodes': '3' }).warnings).toEqual([
      'input "baseline-nodes": has no effect in scenario metric: it is the N of the N -> N+1 -> N sequence, used only in scenario n-plus-one; remove it, or choose that scenario',
    ]);
    expect(read({ scenario: 'pending-pods', 'baseline-nodes': '1' }).warnings).toEqual([]);
  });
});

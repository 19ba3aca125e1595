// The bad-input table: every input malformed or out of range, and nodepool/instance-types files
// malformed or of the wrong kind. Each case names the substrings its error must hold: the input,
// the value given, what is accepted. Used by __tests__/e2e/bad-input.test.ts (and docs/reliability.md).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gac-bad-input-'));
export const file = (name: string, text: string): string => {
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

export interface Case {
  name: string;
  inputs: () => Record<string, string>;
  /** Substrings of the error, in order of importance: the input, what was given, what is accepted. */
  message: string[];
  /** Invalid inputs the case makes (1 unless it combines several). */
  count?: number;
}

/** Inputs and files that the inputs stage alone must reject. */
export const INPUT_CASES: Case[] = [
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
  {
    name: 'lease-namespace with a dot',
    inputs: () => ({ 'lease-namespace': 'kube.system' }),
    message: ['input "lease-namespace"', '"kube.system" is not a valid name'],
  },
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

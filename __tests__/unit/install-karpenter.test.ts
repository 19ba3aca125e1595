import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { deploymentHealthy, gpuNodePools, type NodePoolLike, reconciled } from '../../src/checks/karpenter.js';
import { criSnapshotter, importArgs, kindNodesArgs, nodeImagesArgs } from '../../src/karpenter/kind-image.js';
import { providerFor } from '../../src/karpenter/index.js';
import { minimalKubeconfig } from '../../src/karpenter/process.js';
import { karpenterValues } from '../../src/karpenter/values.js';
import { kwokNodeClassReadyPatch, labelled, withTemplateLabel } from '../../src/stages/nodepool.js';
import { helmUninstallArgs, helmUpgradeArgs } from '../../src/tools/helm.js';
import { manifestUrl } from '../../src/tools/registry.js';
import type { Config } from '../../src/types.js';
import { goBuildArgs, goBuildEnv, karpenterCacheVersion, koBuildArgs, koBuildEnv, parseImageRef } from '../../src/tools/karpenter.js';
import { karpenterProcessEnv } from '../../src/tools/karpenter-process.js';
import { goModDownloadArgs } from '../../src/tools/gomod.js';

const key = { karpenterVersion: 'v1.8.0', mode: 'process' as const, goVersion: 'go1.26.0', goos: 'linux', goarch: 'amd64' };
const SEMVER = /^\d+\.\d+\.\d+-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/;

describe('Karpenter build cache key', () => {
  it('is semver, readable, and stable', () => {
    const v = karpenterCacheVersion(key);
    expect(v).toMatch(/^1\.8\.0-process\.g[0-9a-f]{12}$/);
    expect(v).toMatch(SEMVER);
    expect(karpenterCacheVersion({ ...key })).toBe(v);
  });
  it('changes with the mode, the Go version, the arch, the version and the target', () => {
    const v = karpenterCacheVersion(key);
    const others = [
      karpenterCacheVersion({ ...key, mode: 'kind', target: 'kind:kind' }),
      karpenterCacheVersion({ ...key, goVersion: 'go1.25.1' }),
      karpenterCacheVersion({ ...key, goarch: 'arm64' }),
      karpenterCacheVersion({ ...key, karpenterVersion: 'v1.8.1' }),
      karpenterCacheVersion({ ...key, mode: 'registry', target: 'ghcr.io/a/b' }),
      karpenterCacheVersion({ ...key, mode: 'registry', target: 'ghcr.io/a/c' }),
    ];
    expect(new Set([v, ...others]).size).toBe(7);
  });
});

describe('build command lines', () => {
  it('go mod download as an argument array', () => {
    expect(goModDownloadArgs('sigs.k8s.io/karpenter', 'v1.8.0')).toEqual(['mod', 'download', '-json', 'sigs.k8s.io/karpenter@v1.8.0']);
  });
  it('go build: static, trimmed, versioned, named karpenter-kwok', () => {
    expect(goBuildArgs('v1.8.0', '/c/karpenter-kwok')).toEqual([
      'build',
      '-trimpath',
      '-ldflags',
      '-s -w -X sigs.k8s.io/karpenter/pkg/operator.Version=v1.8.0',
      '-o',
      '/c/karpenter-kwok',
      './kwok',
    ]);
    const env = goBuildEnv({ PATH: '/bin', GOFLAGS: '-mod=vendor' });
    expect(env).toEqual({ PATH: '/bin', CGO_ENABLED: '0', GOWORK: 'off', GOFLAGS: '-mod=readonly' });
  });
  it('ko build for kind: side-loaded into the named cluster', () => {
    expect(koBuildArgs('amd64')).toEqual(['build', '-B', '--platform=linux/amd64', './kwok']);
    const kind = providerFor({ karpenterMode: 'kind' });
    expect(koBuildEnv({ PATH: '/bin' }, 'v1.8.0', { KO_DOCKER_REPO: 'kind.local', KIND_CLUSTER_NAME: 'gpu-ci' })).toEqual({
      PATH: '/bin',
      CGO_ENABLED: '0',
      GOWORK: 'off',
      GOFLAGS: '-mod=readonly -ldflags=-X=sigs.k8s.io/karpenter/pkg/operator.Version=v1.8.0',
      KO_DOCKER_REPO: 'kind.local',
      KIND_CLUSTER_NAME: 'gpu-ci',
    });
    expect(kind.mode).toBe('kind');
  });
  it('ko build for a registry: pushed to image-repository', () => {
    const env = koBuildEnv({ KIND_CLUSTER_NAME: 'x' }, 'v1.8.0', { KO_DOCKER_REPO: 'ghcr.io/org/karpenter' });
    expect(env.KO_DOCKER_REPO).toBe('ghcr.io/org/karpenter');
    expect(env.GOFLAGS).toBe('-mod=readonly -ldflags=-X=sigs.k8s.io/karpenter/pkg/operator.Version=v1.8.0');
  });
});

describe('image references', () => {
  it('splits kind.local tags, registry digests and ports', () => {
    expect(parseImageRef('kind.local/kwok:0123abcd')).toEqual({ repository: 'kind.local/kwok', tag: '0123abcd' });
    expect(parseImageRef('127.0.0.1:5000/kwok@sha256:' + 'a'.repeat(64))).toEqual({ repository: '127.0.0.1:5000/kwok', digest: 'sha256:' + 'a'.repeat(64) });
    expect(parseImageRef('ghcr.io/o/kwok:latest@sha256:' + 'b'.repeat(64))).toEqual({
      repository: 'ghcr.io/o/kwok',
      tag: 'latest',
      digest: 'sha256:' + 'b'.repeat(64),
    });
  });
  it('manifest URL: http for loopback registries, https otherwise', () => {
    expect(manifestUrl('127.0.0.1:5000/kwok@sha256:abc')).toBe('http://127.0.0.1:5000/v2/kwok/manifests/sha256:abc');
    expect(manifestUrl('ghcr.io/o/kwok:latest@sha256:abc')).toBe('https://ghcr.io/v2/o/kwok/manifests/sha256:abc');
    expect(manifestUrl('kwok')).toBeUndefined();
  });
  it("kind image check finds the cluster's nodes by kind's label and lists each node's containerd images", () => {
    expect(kindNodesArgs('gpu-ci')).toEqual(['ps', '--filter', 'label=io.x-k8s.kind.cluster=gpu-ci', '--format', '{{.Names}}']);
    expect(nodeImagesArgs('gpu-ci-worker')).toEqual(['exec', 'gpu-ci-worker', 'ctr', '-n', 'k8s.io', 'images', 'ls', '-q']);
  });
  it('kind image archive: imported from stdin into the snapshotter the CRI plugin uses (containerd 1.x and 2.x config)', () => {
    const v1 = ['[plugins]', '  [plugins."io.containerd.grpc.v1.cri"]', '    [plugins."io.containerd.grpc.v1.cri".containerd]', '      snapshotter = "native"'];
    const v2 = [
      "[plugins.'io.containerd.transfer.v1.local']",
      "  [[plugins.'io.containerd.transfer.v1.local'.unpack_config]]",
      "    snapshotter = 'zfs'",
      "[plugins.'io.containerd.cri.v1.images']",
      "  snapshotter = 'fuse-overlayfs'",
    ];
    expect(criSnapshotter(v1.join('\n'))).toBe('native');
    expect(criSnapshotter(v2.join('\n'))).toBe('fuse-overlayfs');
    expect(criSnapshotter('version = 2\n')).toBe('overlayfs');
    expect(importArgs('n1', 'native')).toEqual([
      'exec',
      '-i',
      'n1',
      'ctr',
      '-n',
      'k8s.io',
      'images',
      'import',
      '--all-platforms',
      '--digests',
      '--snapshotter=native',
      '-',
    ]);
  });
});

describe('Helm', () => {
  it('kind values: the side-loaded image, never pulled, instance types mounted', () => {
    expect(
      karpenterValues({ image: { repository: 'kind.local/kwok', tag: '0123abcd' }, pullPolicy: 'Never', featureGates: { staticCapacity: false } }),
    ).toEqual({
      imagePullPolicy: 'Never',
      logLevel: 'info',
      settings: { featureGates: { staticCapacity: false } },
      controller: {
        image: { repository: 'kind.local/kwok', tag: '0123abcd', digest: '' },
        env: [{ name: 'INSTANCE_TYPES_FILE_PATH', value: '/etc/karpenter/instance-types/instance-types.json' }],
        extraVolumeMounts: [{ name: 'instance-types', mountPath: '/etc/karpenter/instance-types', readOnly: true }],
        resources: { requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '1Gi' } },
      },
      extraVolumes: [{ name: 'instance-types', configMap: { name: 'karpenter-instance-types' } }],
    });
  });
  it('registry values: pulled by digest, IfNotPresent', () => {
    const v = karpenterValues({
      image: { repository: 'r.io/kwok', digest: 'sha256:abc' },
      pullPolicy: 'IfNotPresent',
      featureGates: {},
      logLevel: 'debug',
    }) as {
      imagePullPolicy: string;
      logLevel: string;
      controller: { image: unknown };
    };
    expect(v.imagePullPolicy).toBe('IfNotPresent');
    expect(v.logLevel).toBe('debug');
    expect(v.controller.image).toEqual({ repository: 'r.io/kwok', tag: 'latest', digest: 'sha256:abc' });
  });
  it('upgrade --install with --wait bounded by the stage time, CRDs skipped, the run cluster', () => {
    expect(
      helmUpgradeArgs({
        release: 'karpenter',
        chart: '/tc/chart',
        namespace: 'kube-system',
        valuesFile: '/e/values.yaml',
        timeoutMs: 245_500,
        skipCrds: true,
        config: { kubeconfig: '/k', context: 'kind-gpu' },
      }),
    ).toEqual([
      'upgrade',
      '--install',
      'karpenter',
      '/tc/chart',
      '--namespace',
      'kube-system',
      '--create-namespace',
      '--skip-crds',
      '--values',
      '/e/values.yaml',
      '--wait',
      '--timeout',
      '245s',
      '--kubeconfig',
      '/k',
      '--kube-context',
      'kind-gpu',
    ]);
    expect(
      helmUpgradeArgs({ release: 'kwok', chart: 'kwok', repo: 'https://kwok.sigs.k8s.io/charts/', namespace: 'kube-system', timeoutMs: 60_000, config: {} }),
    ).toEqual([
      'upgrade',
      '--install',
      'kwok',
      'kwok',
      '--repo',
      'https://kwok.sigs.k8s.io/charts/',
      '--namespace',
      'kube-system',
      '--create-namespace',
      '--wait',
      '--timeout',
      '60s',
    ]);
    expect(helmUninstallArgs({ namespace: 'kube-system', name: 'karpenter' }, {})).toEqual([
      'uninstall',
      'karpenter',
      '--namespace',
      'kube-system',
      '--wait',
      '--ignore-not-found',
    ]);
  });
  it('tools per mode: ko and helm only where an image is built', () => {
    const c = { koVersion: 'v0.18.1', helmVersion: 'v3.19.5' } as Config;
    const tools = (karpenterMode: Config['karpenterMode']) => providerFor({ karpenterMode }).tools({ ...c, karpenterMode });
    expect(tools('kind').map((t) => `${t.desc.name}@${t.version}`)).toEqual(['ko@v0.18.1', 'helm@v3.19.5']);
    expect(tools('registry')).toHaveLength(2);
    expect(tools('process')).toEqual([]);
    expect(tools('existing')).toEqual([]);
  });
});

describe('process mode', () => {
  it('environment: kubeconfig, no leader election, instance types, free ports', () => {
    const env = karpenterProcessEnv(
      { PATH: '/bin', KUBECONFIG: '/old' },
      { kubeconfig: '/k', instanceTypesFile: '/e/it.json', metricsPort: 40001, healthPort: 40002, systemNamespace: 'kube-system' },
    );
    expect(env).toEqual({
      PATH: '/bin',
      KUBECONFIG: '/k',
      DISABLE_LEADER_ELECTION: 'true',
      INSTANCE_TYPES_FILE_PATH: '/e/it.json',
      METRICS_PORT: '40001',
      HEALTH_PROBE_PORT: '40002',
      SYSTEM_NAMESPACE: 'kube-system',
      LOG_LEVEL: 'info',
    });
  });
  it('minimal kubeconfig holds only the chosen context', () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: 'a', server: 'https://a:6443', skipTLSVerify: false },
        { name: 'b', server: 'https://b:6443', skipTLSVerify: false },
      ],
      users: [
        { name: 'ua', token: 'ta' },
        { name: 'ub', token: 'tb' },
      ],
      contexts: [
        { name: 'ca', cluster: 'a', user: 'ua' },
        { name: 'cb', cluster: 'b', user: 'ub' },
      ],
      currentContext: 'ca',
    });
    kc.setCurrentContext('cb');
    const out = parse(minimalKubeconfig(kc)) as {
      clusters: { name: string }[];
      users: { name: string }[];
      contexts: { name: string }[];
      'current-context': string;
    };
    expect(out.clusters.map((c) => c.name)).toEqual(['b']);
    expect(out.users.map((u) => u.name)).toEqual(['ub']);
    expect(out.contexts.map((c) => c.name)).toEqual(['cb']);
    expect(out['current-context']).toBe('cb');
  });
});

describe('existing mode and nodepool decisions', () => {
  const dep = (ready: number, available: string) => ({
    metadata: { name: 'karpenter', namespace: 'karpenter' },
    spec: { replicas: 1 },
    status: { readyReplicas: ready, conditions: [{ type: 'Available', status: available }] },
  });
  it('a Deployment is healthy when Available with a ready replica', () => {
    expect(deploymentHealthy(dep(1, 'True'))).toBe(true);
    expect(deploymentHealthy(dep(0, 'True'))).toBe(false);
    expect(deploymentHealthy(dep(1, 'False'))).toBe(false);
  });
  it('GPU NodePools are the ones with an nvidia.com/gpu limit; reconciled = Ready for the current generation', () => {
    const pools: NodePoolLike[] = [
      { metadata: { name: 'cpu', generation: 1 }, spec: { limits: { cpu: '100' } } },
      {
        metadata: { name: 'gpu', generation: 2 },
        spec: { limits: { 'nvidia.com/gpu': '64' } },
        status: { conditions: [{ type: 'Ready', status: 'True', observedGeneration: 2 }] },
      },
      {
        metadata: { name: 'gpu-old', generation: 3 },
        spec: { limits: { 'nvidia.com/gpu': 8 } },
        status: { conditions: [{ type: 'Ready', status: 'True', observedGeneration: 2 }] },
      },
    ];
    expect(gpuNodePools(pools).map((p) => p.metadata?.name)).toEqual(['gpu', 'gpu-old']);
    expect(pools.map(reconciled)).toEqual([false, true, false]);
  });
  it('the run label is added without touching the input', () => {
    const input = [{ apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: { name: 'gpu', labels: { team: 'ml' } } }];
    const out = labelled(input, { key: 'gpu-autoscaling-conformance/run-id', value: 'r1' });
    expect(out[0]!.metadata!.labels).toEqual({ team: 'ml', 'gpu-autoscaling-conformance/run-id': 'r1' });
    expect(input[0]!.metadata.labels).toEqual({ team: 'ml' });
  });
  it("a NodePool the run creates puts the run label on its nodes' template, keeping the pool's own labels", () => {
    const pool = { apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: { name: 'gpu' }, spec: { template: { metadata: { labels: { tier: 'gpu' } } } } };
    withTemplateLabel(pool, { key: 'gpu-autoscaling-conformance/run-id', value: 'r1' });
    expect(pool.spec.template.metadata.labels).toEqual({ tier: 'gpu', 'gpu-autoscaling-conformance/run-id': 'r1' });
    const bare = { apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: { name: 'gpu' } };
    withTemplateLabel(bare, { key: 'gpu-autoscaling-conformance/run-id', value: 'r2' });
    expect(bare).toMatchObject({ spec: { template: { metadata: { labels: { 'gpu-autoscaling-conformance/run-id': 'r2' } } } } });
  });
  it('KWOKNodeClass status: the Ready condition its CRD declares as default, as a JSON patch', () => {
    expect(kwokNodeClassReadyPatch(3, new Date('2026-11-30T04:00:00Z'))).toEqual([
      {
        op: 'add',
        path: '/status',
        value: {
          conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: '2026-11-30T04:00:00.000Z', observedGeneration: 3 }],
        },
      },
    ]);
  });
});

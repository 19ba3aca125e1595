// karpenter-mode registry on a real kind cluster, through the bundle as a runner runs it (main,
// then post), against a registry that requires credentials as ghcr.io does (an HTTPS front with a
// Basic challenge over go-containerregistry's registry, __tests__/support/auth-registry.ts). The
// credentials are the ones a user has: a docker config.json (DOCKER_CONFIG, as `docker login`
// or docker/login-action write it) for ko's push and the action's "already built" check, and a
// kubernetes.io/dockerconfigjson Secret named in the chart's imagePullSecrets (karpenter-values)
// for the cluster's pull, created by the test as a user would, in the namespace Karpenter goes
// to. The registry's request log shows what each run sent: the first builds and pushes, the
// second finds the image and writes nothing.
//
// Test infrastructure only: the front's CA is trusted by the action's process
// (NODE_EXTRA_CA_CERTS), by ko (SSL_CERT_FILE) and by the node's containerd (a hosts.toml; see
// __tests__/support/kind-registry.ts), all undone when the file ends.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyObject } from '../../src/kube/apply.js';
import { STAGE_NAMES } from '../../src/types.js';
import { bin } from '../../testbed/lib/bed.js';
import { startAuthRegistry, writes, type AuthRegistry, type RegistryRequest } from '../support/auth-registry.js';
import { runAction } from '../support/harness.js';
import { deleteNamespaces } from '../support/cluster.js';
import { kindSnapshot, kindSuite, type KindSnapshot } from '../support/kind-suite.js';
import { trustRegistryOnNode, type NodeRegistryTrust } from '../support/kind-registry.js';
import type { Results } from '../../src/evidence/model.js';

/** The user's namespace for Karpenter: it holds the pull Secret, so it exists before the run (the action creates the namespace only when absent). */
const NS = 'gac-registry-karpenter';
const PULL_SECRET = 'registry-pull';

const k = kindSuite();
let reg: AuthRegistry;
let trust: NodeRegistryTrust | undefined;
/** The runner's tool cache of this file: the first run finds no Karpenter build for this registry. */
let toolCache: string;
let valuesFile: string;
let dockerConfig: string;
let before: KindSnapshot;

const stage = (r: { results: Results }, name: string) => r.results.stages.find((s) => s.name === name)!;
const summary = (log: readonly RegistryRequest[]) => {
  const counts = new Map<string, number>();
  for (const r of log) {
    const key = `${r.method} ${r.status}${r.user ? '' : ' anonymous/refused'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, n]) => `${key} x${n}`).join(', ');
};

beforeAll(async () => {
  reg = await startAuthRegistry({ binary: bin(k.bed, 'registry'), address: k.kind.networkGateway });
  trust = await trustRegistryOnNode(k.kind, reg.host, reg.caFile);
  // The user's docker config (docker login wrote it); what a user does for a private registry: a
  // namespace with a docker-registry Secret made from that config (kubectl create secret generic
  // --type=kubernetes.io/dockerconfigjson --from-file=.dockerconfigjson=...), named in the chart's values.
  dockerConfig = reg.dockerConfig();
  await applyObject(k.kube, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }, { fieldManager: 'gac-test' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gac-registry-mode-'));
  valuesFile = await pullSecretValues(dir, PULL_SECRET, dockerConfig);
  toolCache = path.join(dir, 'toolcache');
  before = { ...k.before, namespaces: [...k.before.namespaces, NS].sort() };
  console.log(`[figures] registry: front ${reg.host}; containerd config_path ${trust.configPathAdded ? 'added (containerd restarted)' : 'already set'}`);
});

/** A docker-registry Secret in NS made from a docker config, and a values file naming it in the chart's imagePullSecrets. */
async function pullSecretValues(dir: string, name: string, config: string): Promise<string> {
  await applyObject(
    k.kube,
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: NS },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': fs.readFileSync(path.join(config, 'config.json')).toString('base64') },
    } as k8s.KubernetesObject,
    { fieldManager: 'gac-test' },
  );
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, `imagePullSecrets:\n  - name: ${name}\n`);
  return file;
}

afterAll(async () => {
  await deleteNamespaces(k.kube, [NS]).catch((e: Error) => console.log(`namespace ${NS}: ${e.message}`));
  await trust?.undo();
  await reg?.stop();
  if (toolCache) fs.rmSync(path.dirname(toolCache), { recursive: true, force: true });
});

/** main then post in registry mode, with the docker config given (default: the right password); the registry's requests of the run. */
async function registryRun(inputs: Record<string, string> = {}, env: Record<string, string> = {}) {
  const { run, evidenceDir } = k.action(
    {
      'karpenter-mode': 'registry',
      // What a registry-mode user leaves at its default (it names a kind cluster).
      'cluster-name': 'kind',
      'image-repository': `${reg.host}/karpenter`,
      'karpenter-namespace': NS,
      'karpenter-values': valuesFile,
      'min-replicas': '1',
      'max-replicas': '3',
      'metric-target': '10',
      ...inputs,
    },
    { DOCKER_CONFIG: dockerConfig, SSL_CERT_FILE: reg.caBundle, NODE_EXTRA_CA_CERTS: reg.caFile, ...env },
  );
  run.toolCache = toolCache;
  const from = reg.log.length;
  const started = Date.now();
  const r = await runAction(run);
  const wallMs = Date.now() - started;
  const requests = reg.log.slice(from);
  if (r.main.code !== 0) console.log(r.main.stdout.slice(-8000));
  const results = JSON.parse(fs.readFileSync(path.join(evidenceDir, 'results.json'), 'utf8')) as Results;
  for (const s of results.stages) console.log(`[figures] registry: ${s.name} ${s.status} ${s.durationMs} ms: ${s.message.slice(0, 200)}`);
  console.log(`[figures] registry: main+post ${(wallMs / 1000).toFixed(1)} s; registry requests: ${summary(requests)}`);
  return { ...r, results, requests, wallMs };
}

describe('karpenter-mode registry on a real kind cluster, with a registry that requires credentials', () => {
  it('the first run builds and pushes with the docker config, the cluster pulls with the pull Secret, and the chain passes', async () => {
    const r = await registryRun();
    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    for (const name of STAGE_NAMES) expect(stage(r, name)?.status, name).toBe('pass');
    expect(stage(r, 'karpenter-build').message).toMatch(/^Karpenter v1\.8\.0 \(registry\) built in \d+ s and cached$/);
    // Anonymous requests were refused: the registry really asks for credentials.
    expect(r.requests.some((q) => q.status === 401 && !q.user)).toBe(true);
    // ko pushed with the docker config's credentials: blobs and the manifest, each write authorized.
    const pushed = writes(r.requests);
    expect(pushed.some((q) => q.method === 'PUT' && /^\/v2\/karpenter\/kwok\/manifests\//.test(q.path))).toBe(true);
    expect(pushed.filter((q) => q.status >= 400)).toEqual([]);
    expect(pushed.every((q) => q.user === reg.user)).toBe(true);
    // The node's containerd pulled the image with the Secret's credentials: its anonymous try
    // refused, then the manifest by digest answered with credentials (the layers follow unless
    // containerd holds them already: ko's build is reproducible, the digest the same each time).
    const node = r.requests.filter((q) => /containerd/.test(q.agent));
    const manifest = node.filter((q) => /^\/v2\/karpenter\/kwok\/manifests\/sha256:/.test(q.path));
    expect(manifest.some((q) => q.status === 401 && !q.user)).toBe(true);
    expect(manifest.some((q) => q.status === 200 && q.user === reg.user)).toBe(true);
    expect(node.filter((q) => q.status !== 200 && q.status !== 401)).toEqual([]);
    console.log(`[figures] registry: containerd's requests: ${summary(node)}`);
    expect(trust!.images().some((i) => i.startsWith(`${reg.host}/karpenter/kwok`))).toBe(true);
    expect(r.post.code).toBe(0);
    expect(await kindSnapshot(k.kube)).toEqual(before);
  });

  it('a second run finds the image with the same credentials: no build, no push', async () => {
    const r = await registryRun();
    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    expect(stage(r, 'karpenter-build').message).toMatch(/^cache hit: Karpenter v1\.8\.0 \(registry\) from the tool cache/);
    // The "already built" check: a HEAD of the manifest, refused anonymously, answered 200 with the docker config's credentials.
    const heads = r.requests.filter((q) => q.method === 'HEAD' && /^\/v2\/karpenter\/kwok\/manifests\/sha256:/.test(q.path));
    expect(heads.map((q) => `${q.status} ${q.user ?? 'anonymous'}`)).toEqual(['401 anonymous', `200 ${reg.user}`]);
    // Nothing written: no blob upload, no manifest PUT.
    expect(writes(r.requests)).toEqual([]);
    expect(r.post.code).toBe(0);
    expect(await kindSnapshot(k.kube)).toEqual(before);
  });

  it("a pull Secret the registry refuses fails karpenter-install at the kubelet's second refusal, with the registry's answer", async () => {
    const values = await pullSecretValues(path.dirname(toolCache), 'registry-pull-wrong', reg.dockerConfig('wrong-password'));
    // A fresh image name, so the node holds nothing of it and has to pull.
    const r = await registryRun({ 'karpenter-values': values, 'image-repository': `${reg.host}/karpenter-refused` });
    expect(r.main.code).toBe(1);
    expect(r.outputs['failed-stage']).toBe('karpenter-install');
    const install = stage(r, 'karpenter-install');
    console.log(`[figures] registry: pull refused: ${install.durationMs} ms: ${install.message}`);
    expect(install.message).toMatch(
      /^Expected Karpenter's pod to run; container controller of pod gac-registry-karpenter\/karpenter-[a-z0-9-]+: ErrImagePull \(.*(401|authoriz).*\); pull refused 2 times/is,
    );
    // The node's containerd really tried the Secret's (wrong) password, and nothing answered it.
    const node = r.requests.filter((q) => /containerd/.test(q.agent));
    expect(node.some((q) => q.refusedUser === reg.user)).toBe(true);
    expect(node.filter((q) => q.status === 200 && /\/manifests\//.test(q.path))).toEqual([]);
    expect(r.post.code).toBe(0);
    expect(await kindSnapshot(k.kube)).toEqual(before);
  });

  it('a wrong password in the docker config fails karpenter-build naming the registry, and nothing is written', async () => {
    const wrong = reg.dockerConfig('wrong-password');
    const r = await registryRun({}, { DOCKER_CONFIG: wrong });
    expect(r.main.code).toBe(1);
    expect(r.outputs['failed-stage']).toBe('karpenter-build');
    const build = stage(r, 'karpenter-build');
    console.log(`[figures] registry: wrong password: ${build.message}`);
    console.log(
      r.main.stdout
        .split('\n')
        .filter((l) => /^::(error|warning)|cannot tell/.test(l))
        .join('\n'),
    );
    // The "already built" check saw the credentials refused and said so at once, naming the
    // registry and what to do: no rebuild, no push tried.
    expect(build.message).toContain(`Expected the registry to accept the runner's credentials for ${reg.host}/`);
    expect(build.message).toContain(`${reg.host} answered HTTP 401 to the credentials docker's config.json has for it`);
    expect(build.message).toContain('Next: log in again');
    expect(writes(r.requests)).toEqual([]);
    expect(r.requests.some((q) => q.refusedUser === reg.user)).toBe(true);
    expect(r.post.code).toBe(0);
    expect(await kindSnapshot(k.kube)).toEqual(before);
  });
});

// The kind test bed itself (testbed/kind/up must have run): a one-node cluster made offline on this
// machine. The node is Ready; a pod from a locally built image reaches the real API server through
// the `kubernetes` Service ClusterIP (checked by the certificate chain, the version and the
// certificate's name, not by "some HTTP answer"); a pod cannot reach an address outside the machine
// (the egress block drops it); the KWOK controller image is in the node. Without a running cluster
// every test fails: there is nothing to skip to.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

interface Cluster {
  name: string;
  kubeconfig: string;
  kubernetesVersion: string;
  nodeContainer: string;
  bridge: string;
  kubectl: string;
  kwokImage: string;
  probeImage: string;
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const stateDir = process.env.KIND_BED_DIR ?? join(repo, '.bed-kind');
const clusterFile = join(stateDir, 'cluster.json');
const docker = process.env.GAC_DOCKER ?? '/usr/bin/docker';
// The TEST-NET address this machine's own default route goes to: outside the machine, and reached
// if nothing drops the pod's packets. Only probed after the drop rule is seen in place.
const OUTSIDE = process.env.GAC_KIND_OUTSIDE_ADDR ?? '192.0.2.1:443';
const CONNECT_TIMEOUT_S = 3;
const API_SERVICE_IP = '10.96.0.1';

/** What testbed/go/kind/probe prints (one JSON line). */
interface ProbeOutput {
  api?: { url: string; status?: number; gitVersion?: string; peerCN?: string; error?: string };
  egress?: { addr: string; connected: boolean; error?: string; ms: number };
}

let cluster: Cluster;

const run = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 240_000 });
const kubectl = (...args: string[]) => run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfig, ...args]);
const kubectlIn = (input: string, ...args: string[]) => run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfig, ...args], input);

/** Runs the probe image once as a pod in `default` and returns the JSON line it printed. */
function runProbe(args: string[]): ProbeOutput {
  const name = `gac-probe-${randomBytes(3).toString('hex')}`;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'gac-kind-probe' } },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: true,
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'probe', image: cluster.probeImage, imagePullPolicy: 'Never', args }],
    },
  };
  kubectlIn(JSON.stringify(pod), 'create', '-f', '-');
  try {
    // Succeeded: the probe always exits 0 after printing its line (failed probes are in the JSON)
    kubectl('-n', 'default', 'wait', `pod/${name}`, '--for=jsonpath={.status.phase}=Succeeded', '--timeout=120s');
    const logs = kubectl('-n', 'default', 'logs', name).trim();
    return JSON.parse(logs.split('\n').pop()!) as ProbeOutput;
  } catch (err) {
    const described = (() => {
      try {
        return kubectl('-n', 'default', 'describe', 'pod', name);
      } catch {
        return '';
      }
    })();
    throw new Error(`probe pod ${name} failed: ${(err as Error).message}\n${described}`, { cause: err });
  } finally {
    kubectl('-n', 'default', 'delete', 'pod', name, '--wait=false', '--ignore-not-found');
  }
}

// Each test fails on its own when there is no cluster (a throwing beforeAll would only mark them skipped).
let missing: Error | undefined;
beforeAll(() => {
  try {
    if (!existsSync(clusterFile)) throw new Error(`no kind test bed: ${clusterFile} missing (run testbed/kind/up)`);
    cluster = JSON.parse(readFileSync(clusterFile, 'utf8')) as Cluster;
    const running = run(docker, ['inspect', '-f', '{{.State.Running}}', cluster.nodeContainer]).trim();
    if (running !== 'true') throw new Error(`kind node ${cluster.nodeContainer} is not running`);
  } catch (err) {
    missing = err as Error;
  }
});
const requireCluster = () => {
  if (missing) throw missing;
};

describe('kind test bed', () => {
  it('has one node, Ready, running the expected kubelet', () => {
    requireCluster();
    const nodes = JSON.parse(kubectl('get', 'nodes', '-o', 'json')).items;
    expect(nodes).toHaveLength(1);
    const ready = nodes[0].status.conditions.find((c: { type: string }) => c.type === 'Ready');
    expect(ready?.status).toBe('True');
    expect(nodes[0].status.nodeInfo.kubeletVersion).toBe(cluster.kubernetesVersion);
  });

  it('lets a pod from a locally built image reach the real API server through the Service ClusterIP', () => {
    requireCluster();
    const svc = JSON.parse(kubectl('-n', 'default', 'get', 'service', 'kubernetes', '-o', 'json'));
    expect(svc.spec.clusterIP).toBe(API_SERVICE_IP);
    // what the API server says of itself, asked from the host through the kubeconfig
    const server = JSON.parse(kubectl('version', '-o', 'json')).serverVersion;
    expect(server.gitVersion).toBe(cluster.kubernetesVersion);

    const out = runProbe(['-api', `${API_SERVICE_IP}:443`, '-timeout', '10s']);
    // TLS verified against the cluster CA (the pod's service-account ca.crt) inside the probe
    expect(out.api?.error).toBeUndefined();
    expect(out.api?.status).toBe(200);
    expect(out.api?.gitVersion).toBe(server.gitVersion);
    expect(out.api?.peerCN).toBe('kube-apiserver');
  });

  it("drops a pod's connection to an address outside the machine", () => {
    requireCluster();
    // Only probe outside once the drop rule is seen first in DOCKER-USER: without it the packet
    // would leave the machine, which this bed must never let happen.
    const rules = run('iptables', ['-S', 'DOCKER-USER']).split('\n');
    expect(rules[1]).toMatch(new RegExp(`^-A DOCKER-USER -i ${cluster.bridge} ! -o ${cluster.bridge} .*gac-kind-egress-block.* -j DROP$`));
    const forward = run('iptables', ['-S', 'FORWARD']).split('\n');
    expect(forward[1]).toBe('-A FORWARD -j DOCKER-USER');

    const out = runProbe(['-egress', OUTSIDE, '-timeout', `${CONNECT_TIMEOUT_S}s`]);
    expect(out.egress?.addr).toBe(OUTSIDE);
    expect(out.egress?.connected).toBe(false);
    // dropped, not refused by something that answered: the connection attempt times out
    expect(out.egress?.error).toMatch(/timeout/i);
    expect(out.egress?.ms).toBeLessThan((CONNECT_TIMEOUT_S + 2) * 1000);
  });

  it('holds the KWOK controller image in the node, under the name the kwok chart uses', () => {
    requireCluster();
    const images = run(docker, ['exec', cluster.nodeContainer, 'ctr', '--namespace=k8s.io', 'images', 'ls', '-q'])
      .split('\n')
      .map((l) => l.trim());
    expect(cluster.kwokImage).toBe('registry.k8s.io/kwok/kwok:v0.7.0');
    expect(images).toContain(cluster.kwokImage);
  });
});

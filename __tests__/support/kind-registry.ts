// Test infrastructure only: makes the kind node's containerd trust a test registry's CA, as a kind
// user with a private registry does (a hosts.toml under /etc/containerd/certs.d/<host:port>/).
// containerd reads those directories only when its CRI config sets `config_path`; kind's own
// node config (taken as is by testbed/kind/build) has none, so this adds it and restarts
// containerd (running containers keep running: their shims stay). `undo` puts the node back:
// the registry's images removed from containerd, its certs.d entry removed, the original
// config.toml restored and containerd restarted again.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { isTrue, type WithConditions } from '../../src/checks/conditions.js';
import { connect } from '../../src/kube/client.js';
import { watchUntil } from '../../src/kube/watch.js';
import type { KindCluster } from './kind.js';

const docker = process.env.GAC_DOCKER ?? '/usr/bin/docker';
const CONFIG = '/etc/containerd/config.toml';
const CERTS_D = '/etc/containerd/certs.d';
const MARKER = '# Added by a test (__tests__/support/kind-registry.ts); removed when it ends.';

export interface NodeRegistryTrust {
  /** Whether `config_path` had to be added to the node's containerd config (and containerd restarted). */
  configPathAdded: boolean;
  /** The hosts.toml written for the registry. */
  hostsToml: string;
  /** Names (tags and digests) of the registry's images the node's CRI holds now (`crictl images`). */
  images(): string[];
  undo(): Promise<void>;
}

/** `config_path` of containerd's CRI registry config, if set. Pure over the file's text. */
export function containerdConfigPath(configToml: string): string | undefined {
  const m = /^\s*config_path\s*=\s*"([^"]*)"/m.exec(configToml);
  return m?.[1] ? m[1].split(':')[0] : undefined;
}

/** hosts.toml for an HTTPS registry whose certificate `caPath` (a path on the node) signs. Pure. */
export function hostsToml(host: string, caPath: string): string {
  return `server = "https://${host}"\n\n[host."https://${host}"]\n  capabilities = ["pull", "resolve"]\n  ca = "${caPath}"\n`;
}

export async function trustRegistryOnNode(kind: KindCluster, host: string, caFile: string): Promise<NodeRegistryTrust> {
  const node = kind.nodeContainer;
  const exec = (args: string[], input?: string) =>
    execFileSync(docker, ['exec', ...(input !== undefined ? ['-i'] : []), node, ...args], {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(input !== undefined ? { input } : {}),
    });
  const write = (file: string, text: string) => exec(['tee', file], text);
  const found = exec(['cat', CONFIG]);
  // A run of this file that was killed left its block: the original is what precedes it, and certs.d is that run's too.
  const leftover = found.indexOf(MARKER);
  const original = leftover >= 0 ? `${found.slice(0, leftover).trimEnd()}\n` : found;
  const existing = containerdConfigPath(original);
  const certsDir = existing ?? CERTS_D;
  const certsDirExisted = leftover < 0 && exec(['sh', '-c', 'test -d "$1" && echo yes || echo no', 'sh', certsDir]).trim() === 'yes';
  const hostDir = `${certsDir}/${host}`;
  // The CRI's images named from the registry. Removed by ID (crictl rmi): containerd keeps a
  // `sha256:<id>` reference beside the names, which would keep the image after a `ctr images rm` of the names.
  const criImages = () =>
    (JSON.parse(exec(['crictl', 'images', '-o', 'json'])) as { images: { id: string; repoTags?: string[]; repoDigests?: string[] }[] }).images.filter((i) =>
      [...(i.repoTags ?? []), ...(i.repoDigests ?? [])].some((r) => r.startsWith(`${host}/`)),
    );
  const images = () => criImages().flatMap((i) => [...(i.repoTags ?? []), ...(i.repoDigests ?? [])]);

  exec(['mkdir', '-p', hostDir]);
  write(`${hostDir}/ca.crt`, fs.readFileSync(caFile, 'utf8'));
  const toml = hostsToml(host, `${hostDir}/ca.crt`);
  write(`${hostDir}/hosts.toml`, toml);
  if (!existing) {
    write(CONFIG, `${original.trimEnd()}\n\n${MARKER}\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${CERTS_D}"\n`);
    await restartContainerd(kind, exec);
  }
  return {
    configPathAdded: !existing,
    hostsToml: toml,
    images,
    async undo() {
      const held = criImages().map((i) => i.id);
      if (held.length) exec(['crictl', 'rmi', ...held]);
      exec(['rm', '-rf', certsDirExisted ? hostDir : certsDir]);
      if (!existing) {
        write(CONFIG, original);
        await restartContainerd(kind, exec);
      }
    },
  };
}

/** Restarts the node's containerd (systemd waits for its ready notification), then waits until the kubelet reports the node Ready. */
async function restartContainerd(kind: KindCluster, exec: (args: string[]) => string): Promise<void> {
  exec(['systemctl', 'restart', 'containerd']);
  exec(['crictl', 'info']);
  const kube = connect({ kubeconfig: kind.kubeconfig });
  await watchUntil<k8s.V1Node, true>(kube, {
    path: '/api/v1/nodes',
    fieldSelector: `metadata.name=${kind.nodeContainer}`,
    describe: `node ${kind.nodeContainer} Ready after containerd's restart`,
    signal: AbortSignal.timeout(120_000),
    until: (items) => (isTrue(items.get(kind.nodeContainer) as WithConditions, 'Ready') ? true : undefined),
  });
}

// Secrets and leftovers for the reliability tests: the bed's key material that must never show
// in a log or an evidence file, and a wider cluster snapshot than cluster.ts's (every namespace,
// CRD and Karpenter object) so "nothing was created" is checked broadly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import type { Kube } from '../../src/kube/client.js';
import type { Bed } from '../../testbed/lib/bed.js';
import { snapshot, type ClusterSnapshot } from './cluster.js';
import type { ActionResult } from './harness.js';

/** Credential strings of a kubeconfig file: tokens, passwords, key data (base64 and each PEM body line). */
export function kubeconfigKeyMaterial(file: string): string[] {
  const kc = parse(fs.readFileSync(file, 'utf8')) as { users?: { user?: Record<string, string> }[] };
  const out: string[] = [];
  for (const { user = {} } of kc.users ?? []) {
    for (const k of ['token', 'password']) if (user[k]) out.push(user[k]);
    if (user['client-key-data']) {
      out.push(user['client-key-data']);
      out.push(...pemBodyLines(Buffer.from(user['client-key-data'], 'base64').toString('utf8')));
    }
  }
  return out;
}

/** The base64 body lines of a PEM text (each long enough to be unique). */
export function pemBodyLines(pem: string): string[] {
  return pem
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith('-----'));
}

/** Every private key of the bed (admin client key, CA keys, service-account signing key) plus the admin kubeconfig's secrets. */
export function bedKeyMaterial(bed: Bed, extraKubeconfigs: string[] = []): string[] {
  const pki = path.join(bed.dir, 'pki');
  const keys = fs
    .readdirSync(pki)
    .filter((f) => f.endsWith('.key'))
    .flatMap((f) => pemBodyLines(fs.readFileSync(path.join(pki, f), 'utf8')));
  return [...new Set([...keys, ...[bed.kubeconfig, ...extraKubeconfigs].flatMap(kubeconfigKeyMaterial)])];
}

/** Text files under dir, recursively. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/**
 * Where any of the secrets shows in what a run leaves readable: every log line of main and post
 * (except ::add-mask:: commands, which the runner consumes and never prints), the job summary,
 * the outputs and state files, and every evidence file. Returns "<where>: <secret prefix>".
 */
export function findSecrets(r: ActionResult, evidenceDir: string, secrets: string[]): string[] {
  const logs = (name: string, text: string) => ({
    name,
    text: text
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n'),
  });
  const places = [
    logs('main stdout', r.main.stdout),
    logs('main stderr', r.main.stderr),
    logs('post stdout', r.post.stdout),
    logs('post stderr', r.post.stderr),
    { name: 'job summary', text: r.summary },
    ...[r.dirs.files.output, r.dirs.files.state, r.dirs.files.env].map((f) => ({ name: path.basename(f), text: fs.readFileSync(f, 'utf8') })),
    ...filesUnder(evidenceDir).map((f) => ({ name: path.relative(evidenceDir, f), text: fs.readFileSync(f).toString('latin1') })),
  ];
  return places.flatMap((p) => secrets.filter((s) => p.text.includes(s)).map((s) => `${p.name}: ${s.slice(0, 8)}…`));
}

export interface WideSnapshot extends ClusterSnapshot {
  namespaces: string[];
  crds: string[];
  nodes: string[];
}

/** cluster.ts's snapshot plus every namespace, Karpenter CRD and node. */
export async function wideSnapshot(kube: Kube): Promise<WideSnapshot> {
  const names = (items: k8s.KubernetesObject[]) => items.map((o) => o.metadata!.name!).sort();
  const crds = await kube.apiext.listCustomResourceDefinition();
  return {
    ...(await snapshot(kube)),
    namespaces: names((await kube.core.listNamespace()).items),
    // A CRD already being deleted (by an earlier file's cleanup, its finalizer still running) is
    // going away: not counted, so a snapshot taken meanwhile does not expect it back.
    crds: names(crds.items.filter((c) => !c.metadata?.deletionTimestamp)).filter((n) => /karpenter|kwok/.test(n)),
    nodes: names((await kube.core.listNode()).items),
  };
}

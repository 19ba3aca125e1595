// Where things are and which ports they use: versions from testbed/versions.env, binaries from
// the build cache, ports from BED_PORT_* (or BED_PORT_BASE + a fixed offset).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Not imported from bed.ts: bed.ts imports this module (bin() of a binary bed.json predates).
export const TESTBED = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** KEY=value lines of versions.env (comments and blanks ignored). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*?)\s*$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/^["']|["']$/g, '');
  }
  return out;
}

export function versions(): Record<string, string> {
  return parseEnvFile(readFileSync(join(TESTBED, 'versions.env'), 'utf8'));
}

export function cacheDir(): string {
  return process.env.GAC_CACHE ?? join(homedir(), '.cache', 'gpu-autoscaling-conformance');
}

/** Built binary name -> the versions.env key that pins it. */
export const BUILT: Record<string, string> = {
  'kube-apiserver': 'KUBERNETES_VERSION',
  'kube-controller-manager': 'KUBERNETES_VERSION',
  'kube-scheduler': 'KUBERNETES_VERSION',
  kubectl: 'KUBERNETES_VERSION',
  etcd: 'ETCD_VERSION',
  kwok: 'KWOK_VERSION',
  'prometheus-adapter': 'PROMETHEUS_ADAPTER_VERSION',
  helm: 'HELM_VERSION',
  helm4: 'HELM4_VERSION',
  ko: 'KO_VERSION',
  crane: 'GGCR_VERSION',
  registry: 'GGCR_VERSION',
};

function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The cached path of a built binary (by its name in BUILT) when it exists, at versions.env's version. */
export function builtBinary(name: string, v = versions()): string | undefined {
  const key = BUILT[name];
  if (!key || !v[key]) return undefined;
  const p = join(cacheDir(), 'bin', `${name}-${v[key]}`);
  return existsSync(p) ? p : undefined;
}

/** Absolute paths of every binary the bed uses; throws naming what testbed/build must make. */
export function binaries(v = versions()): Record<string, string> {
  const out: Record<string, string> = {};
  const missing: string[] = [];
  for (const [name, key] of Object.entries(BUILT)) {
    const p = join(cacheDir(), 'bin', `${name}-${v[key]}`);
    if (existsSync(p)) out[name] = p;
    else missing.push(name);
  }
  const prom = which('prometheus');
  if (prom) out.prometheus = prom;
  else missing.push('prometheus');
  out.node = process.execPath;
  if (missing.length) throw new Error(`missing binaries: ${missing.join(', ')}; run testbed/build`);
  return out;
}

export const PORT_OFFSETS = {
  etcd: 1,
  etcdPeer: 2,
  apiserver: 3,
  controllerManager: 4,
  scheduler: 5,
  kwok: 6,
  prometheus: 7,
  dcgm: 8,
  adapter: 9,
} as const;
export type PortName = keyof typeof PORT_OFFSETS;

/** Default base 27400: far from common service ports and below the ephemeral range. */
export function ports(env = process.env): Record<PortName, number> {
  const base = Number(env.BED_PORT_BASE ?? 27400);
  const out = {} as Record<PortName, number>;
  for (const [name, off] of Object.entries(PORT_OFFSETS) as [PortName, number][]) {
    const envName = `BED_PORT_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    out[name] = Number(env[envName] ?? base + off);
  }
  return out;
}

// The running test bed as tests see it: what testbed/up recorded in ${BED_DIR}/bed.json, plus the
// few actions tests take on it (drive the GPU metrics, stop and start a component).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtBinary } from './config.js';
import { restart, runs, stopPid, type ComponentRecord, type Probe } from './proc.js';

export type { ComponentRecord, Probe };

export interface Bed {
  dir: string;
  /** Admin (system:masters) kubeconfig. */
  kubeconfig: string;
  /** kube-apiserver URL, https://127.0.0.1:<port>. */
  apiserver: string;
  prometheusUrl: string;
  /** The DCGM stand-in's base URL (GET /metrics, PUT /control). */
  dcgmUrl: string;
  /** CA that signed every serving and client certificate of the bed. */
  ca: string;
  /** Versions of the built components (from testbed/versions.env). */
  versions: Record<string, string>;
  components: Record<string, ComponentRecord>;
  /** Absolute paths of the binaries: kubectl, helm, helm4, ko, crane, registry, etcd, kube-apiserver, kwok, ... */
  bin: Record<string, string>;
  /** Set once every component is ready. */
  ready: boolean;
}

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function bedDir(): string {
  return process.env.BED_DIR ? resolve(process.env.BED_DIR) : join(REPO_ROOT, '.bed');
}

export function bedFile(dir = bedDir()): string {
  return join(dir, 'bed.json');
}

/** Reads bed.json; throws when the bed is not running (or not fully up). */
export function loadBed(dir = bedDir()): Bed {
  const file = bedFile(dir);
  if (!existsSync(file)) throw new Error(`test bed not running: run testbed/up (no ${file})`);
  const bed = JSON.parse(readFileSync(file, 'utf8')) as Bed;
  if (!bed.ready) throw new Error(`test bed not running: run testbed/up (${file} records an incomplete start)`);
  return bed;
}

/** Writes bed.json atomically (readers never see half a file). */
export function saveBed(bed: Bed): void {
  const file = bedFile(bed.dir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(bed, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/**
 * A binary's absolute path as bed.json records it; one the bed's build added after this bed
 * started (e.g. helm4) comes from the build cache, so a running bed need not restart for it.
 */
export function bin(bed: Bed, name: string): string {
  const p = bed.bin[name] ?? builtBinary(name);
  if (!p) throw new Error(`test bed has no binary "${name}" (has: ${Object.keys(bed.bin).join(', ')}; testbed/build --list shows what is cached)`);
  return p;
}

export interface GpuMetrics {
  /** Power draw in W (DCGM_FI_DEV_POWER_USAGE). */
  power?: number;
  /** Utilisation in % (DCGM_FI_DEV_GPU_UTIL). */
  util?: number;
  /** Framebuffer used in MiB (DCGM_FI_DEV_FB_USED). */
  fbUsed?: number;
  /** Only this GPU index; all GPUs when absent. */
  gpu?: number;
  /** Attribute the GPU(s) to a pod, as dcgm-exporter's Kubernetes mapping does ("" clears). */
  namespace?: string;
  pod?: string;
  container?: string;
}

/** Sets the stand-in exporter's readings; Prometheus sees them at its next scrape. */
export async function setGpuMetrics(bed: Bed, m: GpuMetrics): Promise<void> {
  const res = await fetch(`${bed.dcgmUrl}/control`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(m),
  });
  if (!res.ok) throw new Error(`setGpuMetrics: ${res.status} ${await res.text()}`);
}

function component(bed: Bed, name: string): ComponentRecord {
  const c = bed.components[name];
  if (!c) throw new Error(`test bed has no component "${name}" (has: ${Object.keys(bed.components).join(', ')})`);
  return c;
}

/** Stops one component (waits until its process is gone); bed.json records it with pid 0. */
export async function stopComponent(bed: Bed, name: string): Promise<void> {
  const c = component(bed, name);
  if (c.pid) await stopPid(c.pid, c.cmd[0]);
  bed.components[name] = { ...c, pid: 0 };
  saveBed(bed);
}

/**
 * Starts a process of the caller's (e.g. Karpenter, a loopback registry) as a component of the bed:
 * logged to logs/<name>.log unless `log` says otherwise, waited for (its `ready` probe), recorded
 * in bed.json, so stopComponent/startComponent work on it and testbed/down ends it.
 */
export async function addComponent(
  bed: Bed,
  name: string,
  spec: Omit<ComponentRecord, 'pid' | 'log'> & { log?: string },
  timeoutMs?: number,
): Promise<ComponentRecord> {
  const existing = bed.components[name];
  if (existing?.pid && runs(existing.pid, existing.cmd[0])) throw new Error(`component "${name}" already runs (pid ${existing.pid})`);
  const record: ComponentRecord = { ...spec, log: spec.log ?? join(bed.dir, 'logs', `${name}.log`), pid: 0 };
  bed.components[name] = record;
  try {
    bed.components[name] = await restart(name, record, timeoutMs);
  } finally {
    saveBed(bed);
  }
  return bed.components[name];
}

/** Stops a component added with addComponent and drops it from bed.json. */
export async function removeComponent(bed: Bed, name: string): Promise<void> {
  await stopComponent(bed, name);
  delete bed.components[name];
  saveBed(bed);
}

/** Starts a component stopped by stopComponent (a no-op when it runs) and waits until it is ready. */
export async function startComponent(bed: Bed, name: string, timeoutMs?: number): Promise<void> {
  const c = component(bed, name);
  if (c.pid && runs(c.pid, c.cmd[0])) return;
  bed.components[name] = await restart(name, c, timeoutMs);
  saveBed(bed);
  if (name === 'prometheus-adapter') waitApiServicesAvailable(bed);
}

/**
 * The aggregator marks the adapter's APIServices Available again only after its next discovery
 * check: a restarted adapter is not usable through the API until then, so callers wait for it.
 */
function waitApiServicesAvailable(bed: Bed): void {
  execFileSync(
    bin(bed, 'kubectl'),
    [
      '--kubeconfig',
      bed.kubeconfig,
      'wait',
      '--for=condition=Available',
      '--timeout=120s',
      'apiservice/v1beta1.external.metrics.k8s.io',
      'apiservice/v1beta1.custom.metrics.k8s.io',
    ],
    { stdio: 'pipe' },
  );
}

// testbed/up: starts the bed (see testbed/README.md), waits until every part is ready, writes
// ${BED_DIR}/bed.json and prints the admin kubeconfig path. A second run while it runs says so (and
// starts again any component found stopped).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { bedDir, bedFile, saveBed, type Bed } from './lib/bed.js';
import { ensurePki, IDENTITIES, kubeconfig } from './lib/certs.js';
import { aggregationManifests, GROUPS, KWOK_CONFIG, prometheusConfig, specs, type Layout } from './lib/components.js';
import { binaries, ports, TESTBED, versions } from './lib/config.js';
import { get, restart, runs, spawnDetached, waitReady, waitUntil } from './lib/proc.js';
import { stopAll } from './lib/stop.js';

const t0 = Date.now();

/** True when nothing listens on 127.0.0.1:port (a probe could otherwise reach another process's server). */
const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
const secs = (from: number) => ((Date.now() - from) / 1000).toFixed(1);
const dir = bedDir();

/** The state of a previous start: running, partly running (some PIDs gone), or nothing. */
function previous(): { bed: Bed; alive: string[]; dead: string[] } | undefined {
  if (!existsSync(bedFile(dir))) return undefined;
  const bed = JSON.parse(readFileSync(bedFile(dir), 'utf8')) as Bed;
  const names = Object.keys(bed.components);
  const alive = names.filter((n) => bed.components[n].pid && runs(bed.components[n].pid, bed.components[n].cmd[0]));
  return { bed, alive, dead: names.filter((n) => !alive.includes(n)) };
}

async function main() {
  const prev = previous();
  if (prev && prev.alive.length > 0) {
    if (prev.dead.length === 0 && prev.bed.ready) {
      console.log(`test bed already running (${dir}); kubeconfig: ${prev.bed.kubeconfig}`);
      return;
    }
    if (prev.bed.ready) {
      // a component stopped (a fault test that did not bring it back, a crash): start it again as recorded
      const order = (GROUPS.flat() as string[]).filter((n) => prev.dead.includes(n));
      for (const n of [...order, ...prev.dead.filter((n) => !order.includes(n))]) {
        prev.bed.components[n] = await restart(n, prev.bed.components[n]);
        saveBed(prev.bed);
        console.log(`  ${n} restarted (pid ${prev.bed.components[n].pid})`);
      }
      console.log(`test bed running (${dir}); kubeconfig: ${prev.bed.kubeconfig}`);
      return;
    }
    console.error(`test bed partly started (running: ${prev.alive.join(', ')}); run testbed/down first`);
    process.exitCode = 1;
    return;
  }

  const busy = [];
  for (const [name, port] of Object.entries(ports())) if (!(await portFree(port))) busy.push(`${name} ${port}`);
  if (busy.length) throw new Error(`ports in use: ${busy.join(', ')} (another bed? set BED_PORT_BASE or BED_PORT_<NAME>)`);

  const v = versions();
  const bin = binaries(v);
  // a fresh start: no state from an earlier cluster (nodes, namespaces, series) leaks into this one
  rmSync(join(dir, 'data'), { recursive: true, force: true });
  rmSync(join(dir, 'logs'), { recursive: true, force: true });
  for (const d of ['data', 'logs']) mkdirSync(join(dir, d), { recursive: true });

  const pki = ensurePki(dir);
  const l: Layout = {
    dir,
    pki,
    ports: ports(),
    bin,
    dcgmScript: join(TESTBED, 'dcgm-exporter.ts'),
    adapterConfig: join(TESTBED, 'prometheus-adapter.yaml'),
    hpaSyncPeriod: process.env.BED_HPA_SYNC_PERIOD ?? '15s',
    gpus: Number(process.env.BED_GPUS ?? 1),
  };
  const apiserver = `https://127.0.0.1:${l.ports.apiserver}`;
  for (const id of IDENTITIES) writeFileSync(join(dir, `${id.file}.kubeconfig`), kubeconfig(pki, apiserver, id.file), { mode: 0o600 });
  writeFileSync(join(dir, 'prometheus.yml'), prometheusConfig(l));
  writeFileSync(join(dir, 'kwok.yaml'), KWOK_CONFIG);

  const bed: Bed = {
    dir,
    kubeconfig: join(dir, 'admin.kubeconfig'),
    apiserver,
    prometheusUrl: `http://127.0.0.1:${l.ports.prometheus}`,
    dcgmUrl: `http://127.0.0.1:${l.ports.dcgm}`,
    ca: join(pki, 'ca.crt'),
    versions: v,
    components: {},
    bin,
    ready: false,
  };
  const all = specs(l);
  const kubectl = (args: string[], input?: string) =>
    execFileSync(bin.kubectl, [`--kubeconfig=${bed.kubeconfig}`, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

  // bed.json is written before each wait, so `down` can end whatever a failed start left running
  const start = async (names: readonly string[]) => {
    const from = Date.now();
    for (const n of names) {
      bed.components[n] = { ...all[n], pid: spawnDetached(all[n].cmd, all[n].log, all[n].env) };
    }
    saveBed(bed);
    await Promise.all(
      names.map(async (n) => {
        await waitReady(n, bed.components[n]);
        console.log(`  ${n} ready (pid ${bed.components[n].pid}, port ${bed.components[n].port}) ${secs(from)}s`);
      }),
    );
  };

  const [storage, api, controllers, adapter] = GROUPS;
  await start(storage);
  await start(api);
  await start(controllers);

  kubectl(['apply', '--server-side', '--field-manager=testbed', '-f', '-'], aggregationManifests(l, readFileSync(join(pki, 'ca.crt')).toString('base64')));
  // the adapter discovers series at start and then every relist: start it once Prometheus holds them
  await waitUntil(
    'prometheus has the DCGM series',
    async () => {
      const r = await get({ url: `${bed.prometheusUrl}/api/v1/series?match[]=DCGM_FI_DEV_POWER_USAGE` });
      return r.status === 200 && (JSON.parse(r.body) as { data: unknown[] }).data.length > 0;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  await start(adapter);

  const from = Date.now();
  // watches (kubectl wait) for the API registrations and the default ServiceAccount
  kubectl(['wait', '--for=condition=Available', '--timeout=120s', 'apiservice/v1beta1.external.metrics.k8s.io', 'apiservice/v1beta1.custom.metrics.k8s.io']);
  kubectl(['wait', '--for=create', '--timeout=120s', '-n', 'default', 'serviceaccount/default']);
  await waitUntil(
    'external metric dcgm_gpu_power_usage served',
    async () => {
      try {
        kubectl(['get', '--raw', '/apis/external.metrics.k8s.io/v1beta1/namespaces/default/dcgm_gpu_power_usage']);
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  console.log(`  aggregated metrics APIs available ${secs(from)}s`);

  bed.ready = true;
  saveBed(bed);
  console.log(`test bed up in ${secs(t0)}s (${dir})`);
  console.log(`kubeconfig: ${bed.kubeconfig}`);
}

let failing = false;
async function fail(message: string, exitCode: number) {
  // once: a signal and the start it interrupts both end up here
  if (failing) return;
  failing = true;
  console.error(`testbed/up failed: ${message}`);
  if (process.env.BED_KEEP_ON_FAILURE) {
    console.error('BED_KEEP_ON_FAILURE set: leaving the started components running; testbed/down ends them');
  } else if (existsSync(bedFile(dir))) {
    console.error('stopping what was started (set BED_KEEP_ON_FAILURE=1 to keep it for inspection); logs stay in ' + join(dir, 'logs'));
    await stopAll(dir);
  }
  process.exit(exitCode);
}

// interrupted mid-start: end what was started rather than leave a half bed behind (spawns are
// synchronous and bed.json is saved right after them, so the record is complete here)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void fail(`interrupted (${sig})`, 130));

main().catch((e: Error) => fail(e.message, 1));

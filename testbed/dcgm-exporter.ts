// A stand-in for NVIDIA dcgm-exporter on loopback: the same /metrics exposition (names, HELP/TYPE
// lines, label set and value formats of dcgm-exporter's default counters), for N simulated GPUs
// whose readings a test changes at run time, so Prometheus -> prometheus-adapter -> HPA sees real
// data move.
//
//   node testbed/dcgm-exporter.ts [--port 27408] [--gpus 1] [--hostname bed] [--model "NVIDIA H100 80GB HBM3"]
//   GET  /metrics   the exposition
//   GET  /control   the current readings (JSON)
//   PUT  /control   {"power":300,"util":90,"fbUsed":40000}            every GPU
//                   {"gpu":1,"power":300,"namespace":"ns","pod":"p"}  one GPU (pod attribution as with
//                                                                     dcgm-exporter's Kubernetes mapping)
//   GET  /healthz   ok
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';

export interface GpuReading {
  power: number; // W
  util: number; // %
  fbUsed: number; // MiB
  namespace?: string;
  pod?: string;
  container?: string;
}

export interface Gpu extends GpuReading {
  index: number;
  uuid: string;
  pciBusId: string;
  energyMj: number; // total energy since start, integrated from power
}

export interface ExporterState {
  hostname: string;
  modelName: string;
  driverVersion: string;
  fbTotal: number; // MiB
  gpus: Gpu[];
}

/** An idle H100 80GB HBM3 as dcgm-exporter reports one: ~46 W, 0 %, 0 MiB framebuffer used. */
export const IDLE: GpuReading = { power: 46.25, util: 0, fbUsed: 0 };

export function initialState(gpus: number, hostname: string, modelName = 'NVIDIA H100 80GB HBM3'): ExporterState {
  return {
    hostname,
    modelName,
    driverVersion: '550.127.08',
    fbTotal: 81559,
    gpus: Array.from({ length: gpus }, (_, i) => ({
      ...IDLE,
      index: i,
      // stable, well-formed UUIDs so series identities survive restarts of the stand-in
      uuid: `GPU-5b3c1a2e-${(0x1000 + i).toString(16)}-4c1d-9e8f-${(0x0a0b0c0d0e00 + i).toString(16).padStart(12, '0')}`,
      pciBusId: `00000000:${(0x18 + i * 0x10).toString(16).toUpperCase().padStart(2, '0')}:00.0`,
      energyMj: 0,
    })),
  };
}

interface Field {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  value: (g: Gpu, s: ExporterState) => string;
}

const int = (n: number) => String(Math.round(n));
// dcgm-exporter formats floating point fields with Go's %f (6 decimals)
const float = (n: number) => n.toFixed(6);

// The subset of dcgm-exporter's default-counters.csv a GPU recipe uses, in that file's order.
const FIELDS: Field[] = [
  { name: 'DCGM_FI_DEV_SM_CLOCK', type: 'gauge', help: 'SM clock frequency (in MHz).', value: (g) => int(g.util > 0 ? 1980 : 345) },
  { name: 'DCGM_FI_DEV_MEM_CLOCK', type: 'gauge', help: 'Memory clock frequency (in MHz).', value: () => '2619' },
  { name: 'DCGM_FI_DEV_MEMORY_TEMP', type: 'gauge', help: 'Memory temperature (in C).', value: (g) => int(30 + g.util / 5) },
  { name: 'DCGM_FI_DEV_GPU_TEMP', type: 'gauge', help: 'GPU temperature (in C).', value: (g) => int(28 + g.util / 4) },
  { name: 'DCGM_FI_DEV_POWER_USAGE', type: 'gauge', help: 'Power draw (in W).', value: (g) => float(g.power) },
  {
    name: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
    type: 'counter',
    help: 'Total energy consumption since boot (in mJ).',
    value: (g) => int(g.energyMj),
  },
  { name: 'DCGM_FI_DEV_PCIE_REPLAY_COUNTER', type: 'counter', help: 'Total number of PCIe retries.', value: () => '0' },
  { name: 'DCGM_FI_DEV_GPU_UTIL', type: 'gauge', help: 'GPU utilization (in %).', value: (g) => int(g.util) },
  { name: 'DCGM_FI_DEV_MEM_COPY_UTIL', type: 'gauge', help: 'Memory utilization (in %).', value: (g) => int(g.util / 2) },
  { name: 'DCGM_FI_DEV_ENC_UTIL', type: 'gauge', help: 'Encoder utilization (in %).', value: () => '0' },
  { name: 'DCGM_FI_DEV_DEC_UTIL', type: 'gauge', help: 'Decoder utilization (in %).', value: () => '0' },
  { name: 'DCGM_FI_DEV_XID_ERRORS', type: 'gauge', help: 'Value of the last XID error encountered.', value: () => '0' },
  { name: 'DCGM_FI_DEV_FB_FREE', type: 'gauge', help: 'Framebuffer memory free (in MiB).', value: (g, s) => int(Math.max(0, s.fbTotal - g.fbUsed)) },
  { name: 'DCGM_FI_DEV_FB_USED', type: 'gauge', help: 'Framebuffer memory used (in MiB).', value: (g) => int(g.fbUsed) },
  {
    name: 'DCGM_FI_PROF_GR_ENGINE_ACTIVE',
    type: 'gauge',
    help: 'Ratio of time the graphics engine is active.',
    value: (g) => float(g.util / 100),
  },
  {
    name: 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE',
    type: 'gauge',
    help: 'Ratio of cycles the tensor (HMMA) pipe is active.',
    value: (g) => float(g.util / 200),
  },
  {
    name: 'DCGM_FI_PROF_DRAM_ACTIVE',
    type: 'gauge',
    help: 'Ratio of cycles the device memory interface is active sending or receiving data.',
    value: (g) => float(g.util / 150),
  },
];

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(g: Gpu, s: ExporterState): string {
  const pairs: [string, string][] = [
    ['gpu', String(g.index)],
    ['UUID', g.uuid],
    ['pci_bus_id', g.pciBusId],
    ['device', `nvidia${g.index}`],
    ['modelName', s.modelName],
    ['Hostname', s.hostname],
    ['DCGM_FI_DRIVER_VERSION', s.driverVersion],
  ];
  // dcgm-exporter adds these only for GPUs it maps to a pod
  if (g.pod) pairs.push(['container', g.container ?? ''], ['namespace', g.namespace ?? ''], ['pod', g.pod]);
  return pairs.map(([k, v]) => `${k}="${escape(v)}"`).join(',');
}

/** The exposition text for the current state. */
export function render(s: ExporterState): string {
  let out = '';
  for (const f of FIELDS) {
    out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
    for (const g of s.gpus) out += `${f.name}{${labels(g, s)}} ${f.value(g, s)}\n`;
  }
  return out;
}

export interface ControlRequest extends Partial<GpuReading> {
  gpu?: number;
}

/** Validates a control request and applies it; returns an error message or undefined. */
export function applyControl(s: ExporterState, req: ControlRequest): string | undefined {
  if (typeof req !== 'object' || req === null) return 'body must be a JSON object';
  const checks: [keyof GpuReading, number][] = [
    ['power', 5000],
    ['util', 100],
    ['fbUsed', s.fbTotal],
  ];
  for (const [k, max] of checks) {
    const v = req[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max)) {
      return `${k} must be a number in [0, ${max}]`;
    }
  }
  for (const k of ['namespace', 'pod', 'container'] as const) {
    if (req[k] !== undefined && typeof req[k] !== 'string') return `${k} must be a string`;
  }
  const targets = req.gpu === undefined ? s.gpus : s.gpus.filter((g) => g.index === req.gpu);
  if (targets.length === 0) return `no gpu ${req.gpu}`;
  for (const g of targets) {
    if (req.power !== undefined) g.power = req.power;
    if (req.util !== undefined) g.util = req.util;
    if (req.fbUsed !== undefined) g.fbUsed = req.fbUsed;
    if (req.namespace !== undefined) g.namespace = req.namespace || undefined;
    if (req.pod !== undefined) g.pod = req.pod || undefined;
    if (req.container !== undefined) g.container = req.container || undefined;
  }
  return undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
      if (body.length > 65536) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

export function serve(s: ExporterState, port: number, host = '127.0.0.1') {
  let last = Date.now();
  // integrate energy lazily, at each read, from the power held since the previous one
  const tick = () => {
    const now = Date.now();
    for (const g of s.gpus) g.energyMj += g.power * (now - last);
    last = now;
  };
  const send = (res: ServerResponse, code: number, type: string, body: string) => {
    res.writeHead(code, { 'content-type': type });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' && req.method === 'GET') {
      tick();
      return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', render(s));
    }
    if (path === '/healthz') return send(res, 200, 'text/plain', 'ok\n');
    if (path === '/control' && req.method === 'GET') return send(res, 200, 'application/json', JSON.stringify(s));
    if (path === '/control' && (req.method === 'PUT' || req.method === 'POST')) {
      readBody(req).then(
        (body) => {
          let parsed: ControlRequest;
          try {
            parsed = JSON.parse(body) as ControlRequest;
          } catch {
            return send(res, 400, 'text/plain', 'invalid JSON\n');
          }
          tick();
          const err = applyControl(s, parsed);
          if (err) return send(res, 400, 'text/plain', `${err}\n`);
          send(res, 200, 'application/json', JSON.stringify(s));
        },
        (e: Error) => send(res, 400, 'text/plain', `${e.message}\n`),
      );
      return;
    }
    send(res, 404, 'text/plain', 'not found\n');
  });
  server.listen(port, host);
  return server;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.DCGM_PORT ?? '27408' },
      gpus: { type: 'string', default: '1' },
      hostname: { type: 'string', default: 'gac-bed' },
      model: { type: 'string', default: 'NVIDIA H100 80GB HBM3' },
    },
  });
  const state = initialState(Number(values.gpus), values.hostname, values.model);
  const server = serve(state, Number(values.port));
  server.on('listening', () => console.log(`dcgm-exporter stand-in: ${state.gpus.length} x ${state.modelName} on 127.0.0.1:${values.port}`));
  server.on('error', (e) => {
    console.error(`dcgm-exporter stand-in: ${e.message}`);
    process.exit(1);
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => server.close(() => process.exit(0)));
}

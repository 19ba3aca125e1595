// Scenario files for the scale runs: the shipped NodePool with a GPU limit that fits the largest
// scale, and only the shipped 1-GPU instance types, so every 1-GPU pod gets a node of its own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { InstanceTypeSpec } from '../../src/types.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Only the instance types with exactly `gpus` nvidia.com/gpu. Pure. */
export const typesWithGpus = (types: InstanceTypeSpec[], gpus: number): InstanceTypeSpec[] =>
  types.filter((t) => Number(t.resources['nvidia.com/gpu']) === gpus);

export function scaleFiles(dir: string, gpuLimit: number): { nodepool: string; instanceTypes: string } {
  const docs = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'manifests', 'nodepool.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const d of docs) if (d.kind === 'NodePool') d.spec.limits = { 'nvidia.com/gpu': String(gpuLimit) };
  const nodepool = path.join(dir, 'nodepool-scale.yaml');
  fs.writeFileSync(nodepool, docs.map((d) => stringify(d)).join('---\n'));
  const all = JSON.parse(fs.readFileSync(path.join(ROOT, 'manifests', 'instance-types.json'), 'utf8')) as InstanceTypeSpec[];
  const instanceTypes = path.join(dir, 'instance-types-1gpu.json');
  fs.writeFileSync(instanceTypes, JSON.stringify(typesWithGpus(all, 1), null, 2));
  return { nodepool, instanceTypes };
}

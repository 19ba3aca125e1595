// Pure validation of the scenario files: the NodePool file and the instance types file.
// Each returns the parsed spec or the list of problems, phrased for a person fixing the file.
import { parseAllDocuments } from 'yaml';
import type { InstanceTypeSpec, NodePoolSpec } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const at = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (isObj(v) ? v[k] : undefined), o);

export const NODEPOOL_API = 'karpenter.sh/v1';
export const KWOK_NODECLASS_API = 'karpenter.kwok.sh/v1alpha1';
export const GPU_RESOURCE = 'nvidia.com/gpu';

export type Checked<T> = { value: T; problems: [] } | { value?: undefined; problems: string[] };

/**
 * The NodePool file: exactly one karpenter.sh/v1 NodePool and the KWOKNodeClass it references.
 * With anyNodeClass (existing mode, a real cloud provider) the NodePool may reference any node
 * class, e.g. an EC2NodeClass that already exists in the cluster.
 */
export function checkNodePoolFile(text: string, opts: { anyNodeClass?: boolean } = {}): Checked<NodePoolSpec> {
  let docs: unknown[];
  try {
    const parsed = parseAllDocuments(text);
    const errors = parsed.flatMap((d) => d.errors.map((e) => e.message.split('\n')[0]));
    if (errors.length) return { problems: [`is not valid YAML: ${errors[0]}`] };
    docs = parsed.map((d) => d.toJS()).filter((d) => d !== null && d !== undefined);
  } catch (e) {
    return { problems: [`is not valid YAML: ${(e as Error).message}`] };
  }
  const problems: string[] = [];
  const objects = docs.filter(isObj);
  if (objects.length !== docs.length) problems.push('has a document that is not a Kubernetes object');
  const pools = objects.filter((d) => d.kind === 'NodePool');
  const classes = objects.filter((d) => d.kind === 'KWOKNodeClass');
  if (pools.length !== 1) {
    const kinds = objects.map((d) => `${String(d.apiVersion)}/${String(d.kind)}`).join(', ') || 'nothing';
    problems.push(
      `must hold exactly one NodePool (found ${pools.length}; the file holds ${kinds}); accepted: one ${NODEPOOL_API} NodePool and one ${KWOK_NODECLASS_API} KWOKNodeClass`,
    );
    return { problems };
  }
  const pool = pools[0]!;
  const name = at(pool, 'metadata', 'name');
  if (pool.apiVersion !== NODEPOOL_API) problems.push(`NodePool has apiVersion ${String(pool.apiVersion)}; accepted: ${NODEPOOL_API}`);
  if (typeof name !== 'string' || !name) problems.push('NodePool has no metadata.name');
  const ref = at(pool, 'spec', 'template', 'spec', 'nodeClassRef');
  if (opts.anyNodeClass) {
    if (!isObj(ref) || typeof ref.kind !== 'string' || typeof ref.group !== 'string' || typeof ref.name !== 'string') {
      problems.push('NodePool spec.template.spec.nodeClassRef must name a node class (group, kind, name)');
    }
  } else if (!isObj(ref) || ref.kind !== 'KWOKNodeClass' || ref.group !== 'karpenter.kwok.sh' || typeof ref.name !== 'string') {
    problems.push('NodePool spec.template.spec.nodeClassRef must name a KWOKNodeClass (group karpenter.kwok.sh, kind KWOKNodeClass, name)');
  } else {
    const match = classes.find((c) => at(c, 'metadata', 'name') === ref.name);
    if (!match)
      problems.push(
        `NodePool references KWOKNodeClass "${ref.name}", which the file does not define; accepted: a ${KWOK_NODECLASS_API} KWOKNodeClass of that name in the same file`,
      );
    else if (match.apiVersion !== KWOK_NODECLASS_API)
      problems.push(`KWOKNodeClass has apiVersion ${String(match.apiVersion)}; accepted: ${KWOK_NODECLASS_API}`);
  }
  const rawLimit = at(pool, 'spec', 'limits', GPU_RESOURCE);
  let gpuLimit: number | undefined;
  if (rawLimit !== undefined) {
    gpuLimit = Number(rawLimit);
    if (!Number.isInteger(gpuLimit) || gpuLimit < 0)
      problems.push(`NodePool spec.limits["${GPU_RESOURCE}"] is "${String(rawLimit)}"; accepted: a whole number of GPUs`);
  }
  const consolidateAfter = at(pool, 'spec', 'disruption', 'consolidateAfter');
  if (problems.length) return { problems };
  return {
    value: {
      name: name as string,
      gpuLimit,
      consolidateAfter: consolidateAfter === undefined ? undefined : String(consolidateAfter),
      manifests: objects,
    },
    problems: [],
  };
}

/** The instance types file, with the fields Karpenter's KWOK provider reads. */
export function checkInstanceTypesFile(text: string, gpusPerPod: number): Checked<InstanceTypeSpec[]> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return { problems: [`is not valid JSON: ${(e as Error).message}`] };
  }
  if (!Array.isArray(data) || data.length === 0) return { problems: ['must be a non-empty JSON array of instance types'] };
  const problems: string[] = [];
  data.forEach((t: unknown, i) => problems.push(...instanceTypeProblems(t, i)));
  if (problems.length) return { problems };
  const types = data as InstanceTypeSpec[];
  const gpus = (t: InstanceTypeSpec) => Number(t.resources[GPU_RESOURCE] ?? 0);
  if (!types.some((t) => gpus(t) > 0)) return { problems: [`has no instance type with ${GPU_RESOURCE} in its resources`] };
  if (!types.some((t) => gpus(t) >= gpusPerPod)) {
    const most = Math.max(...types.map(gpus));
    return { problems: [`has no instance type with ${gpusPerPod} GPUs for gpus-per-pod ${gpusPerPod} (the largest has ${most})`] };
  }
  return { value: types, problems: [] };
}

function instanceTypeProblems(t: unknown, i: number): string[] {
  const label = isObj(t) && typeof t.name === 'string' ? `instance type "${t.name}"` : `entry ${i}`;
  if (!isObj(t)) return [`${label} is not an object`];
  const problems: string[] = [];
  if (typeof t.name !== 'string' || !t.name) problems.push(`${label} has no name`);
  if (typeof t.architecture !== 'string') problems.push(`${label} has no architecture (e.g. "amd64")`);
  if (!Array.isArray(t.operatingSystems) || t.operatingSystems.length === 0) problems.push(`${label} has no operatingSystems (e.g. ["linux"])`);
  if (!isObj(t.resources)) problems.push(`${label} has no resources (cpu, memory, pods, ${GPU_RESOURCE})`);
  if (!Array.isArray(t.offerings) || t.offerings.length === 0) return [...problems, `${label} has no offerings`];
  t.offerings.forEach((o: unknown, j) => {
    const where = `${label} offering ${j}`;
    if (!isObj(o)) {
      problems.push(`${where} is not an object`);
      return;
    }
    if (typeof o.Price !== 'number' || o.Price < 0) problems.push(`${where} has no numeric Price`);
    if (typeof o.Available !== 'boolean') problems.push(`${where} has no boolean Available`);
    const reqs = o.Requirements;
    if (!Array.isArray(reqs) || reqs.some((r) => !isObj(r) || typeof r.key !== 'string' || typeof r.operator !== 'string' || !Array.isArray(r.values))) {
      problems.push(`${where} needs Requirements: a list of {key, operator, values}`);
    }
  });
  return problems;
}

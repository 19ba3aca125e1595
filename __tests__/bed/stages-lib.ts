// Shared setup of the stage tests against the bed: a config for process mode with a NodePool of
// the test's own (unique name, so tests never see each other's nodes), the chain runner, and the
// check that a run left nothing behind.
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { configFrom } from '../../src/inputs.js';
import { connect, type Kube } from '../../src/kube/client.js';
import { getJson } from '../../src/kube/raw.js';
import { runStages } from '../../src/runner.js';
import { ALL_STAGES } from '../../src/stages/index.js';
import type { Stage } from '../../src/stages/stage.js';
import type { Config, RunState, StageName, StageRecord } from '../../src/types.js';
import type { Bed } from '../../testbed/lib/bed.js';
import { alive } from '../support/cluster.js';

export { alive };

/** Tool cache kept between test runs, so Karpenter is built once per machine. */
export function useToolCache(): void {
  const cache = process.env.GAC_CACHE ?? join(homedir(), '.cache', 'gpu-autoscaling-conformance');
  process.env.RUNNER_TOOL_CACHE ??= join(cache, 'toolcache');
  process.env.RUNNER_TEMP ??= mkdtempSync(join(tmpdir(), 'gac-runner-'));
  mkdirSync(process.env.RUNNER_TOOL_CACHE, { recursive: true });
  // Process mode builds Karpenter with Go.
  if (!(process.env.PATH ?? '').split(':').includes('/usr/local/go/bin')) process.env.PATH = `${process.env.PATH}:/usr/local/go/bin`;
}

/** The pid of the Karpenter process a run started, from its karpenter-install evidence. */
export function karpenterPidOf(c: Chain): number | undefined {
  const item = c.records.find((r) => r.name === 'karpenter-install')?.evidence.find((e) => e.title === 'Karpenter process');
  const m = /pid (\d+)/.exec(item?.output ?? '');
  return m ? Number(m[1]) : undefined;
}

export const suffix = (): string => randomBytes(3).toString('hex');

/** The shipped nodepool file with a unique NodePool/KWOKNodeClass name and optional changes. */
export function nodepoolFile(dir: string, name: string, change: { gpuLimit?: number; consolidateAfter?: string } = {}): string {
  const docs = parseAllDocuments(readFileSync('manifests/nodepool.yaml', 'utf8')).map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const d of docs) {
    d.metadata.name = name;
    if (d.kind === 'NodePool') {
      d.spec.template.spec.nodeClassRef.name = name;
      if (change.gpuLimit !== undefined) d.spec.limits = { 'nvidia.com/gpu': String(change.gpuLimit) };
      if (change.consolidateAfter) d.spec.disruption.consolidateAfter = change.consolidateAfter;
    }
  }
  const file = join(dir, `nodepool-${name}.yaml`);
  writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
  return file;
}

export interface Chain {
  config: Config;
  records: StageRecord[];
  run: RunState;
  record: (name: StageName) => StageRecord;
}

/** A process-mode config against the bed, with its own NodePool and run id. */
export function bedConfig(
  bed: Bed,
  inputs: Record<string, string> = {},
  pool: { gpuLimit?: number; consolidateAfter?: string } = {},
  override: Partial<Config> = {},
): Config {
  const id = suffix();
  const dir = mkdtempSync(join(tmpdir(), `gac-stages-${id}-`));
  const config = configFrom({
    kubeconfig: bed.kubeconfig,
    'karpenter-mode': 'process',
    'kwok-install': 'skip',
    'run-id': `t-${id}`,
    'namespace-prefix': 'gac-stages',
    nodepool: nodepoolFile(dir, `gpu-${id}`, pool),
    'evidence-dir': join(dir, 'evidence'),
    summary: 'false',
    ...inputs,
  });
  return { ...config, ...override };
}

/**
 * One pod in the pending-pods scenario. The inputs demand max-replicas > min-replicas (an HPA's
 * room to scale) even where no HPA is made, so the single replica is set past validation.
 */
export const ONE_POD: Partial<Config> = { minReplicas: 1, maxReplicas: 1 };

export async function runChain(config: Config, stages: Stage[] = ALL_STAGES, run?: RunState): Promise<Chain> {
  const { records, run: state } = await runStages(stages, config, { run });
  const record = (name: StageName) => {
    const r = records.find((x) => x.name === name);
    if (!r) throw new Error(`no record for stage ${name}`);
    return r;
  };
  return { config, records, run: state, record };
}

/** The stages' status line, for failure messages that show the whole run. */
export const summary = (c: Chain): string => c.records.map((r) => `${r.name}=${r.status}: ${r.message}`).join('\n');

/** Asserts the run left nothing: no namespace, no NodeClaims or nodes in its pool, no NodePool, no Karpenter process. */
export async function expectClean(kube: Kube, c: Chain, karpenterPid = karpenterPidOf(c)): Promise<void> {
  expect(c.record('cleanup').status, summary(c)).toBe('pass');
  const pool = c.config.nodePool.name;
  const ns = await kube.core.listNamespace({ fieldSelector: `metadata.name=${c.run.namespace}` });
  expect(ns.items.map((n) => n.metadata?.name)).toEqual([]);
  const nodes = await kube.core.listNode({ labelSelector: `karpenter.sh/nodepool=${pool}` });
  expect(nodes.items.map((n) => n.metadata?.name)).toEqual([]);
  const crdPresent = await getJson<{ items: k8s.KubernetesObject[] }>(kube, '/apis/karpenter.sh/v1/nodeclaims', {
    labelSelector: `karpenter.sh/nodepool=${pool}`,
  }).catch(() => ({ items: [] }));
  expect(crdPresent.items.map((n) => n.metadata?.name)).toEqual([]);
  const pools = await getJson<{ items: k8s.KubernetesObject[] }>(kube, '/apis/karpenter.sh/v1/nodepools', { fieldSelector: `metadata.name=${pool}` }).catch(
    () => ({ items: [] }),
  );
  expect(pools.items).toHaveLength(0);
  expect(c.run.karpenterPid).toBeUndefined();
  expect(c.run.appliedClusterObjects).toEqual([]);
  if (karpenterPid) expect(alive(karpenterPid)).toBe(false);
}

export const kubeFor = (bed: Bed): Kube => connect({ kubeconfig: bed.kubeconfig });

/** Evidence output of a stage by title (first match). */
export function evidenceOf(r: StageRecord, title: string): string {
  const item = r.evidence.find((e) => e.title === title);
  if (!item) throw new Error(`stage ${r.name} has no evidence "${title}" (has: ${r.evidence.map((e) => e.title).join(', ')})`);
  return item.output ?? '';
}

export const stagesNamed = (...names: StageName[]): Stage[] => ALL_STAGES.filter((s) => names.includes(s.name));

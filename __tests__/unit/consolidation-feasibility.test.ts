// A NodePool that makes consolidation impossible is rejected before the run, naming the
// setting; one that makes it slow gets a longer stage budget (issue 14, point 5).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { consolidationFeasibility, consolidationTimeoutMs, describeInfeasible, parseKarpenterDuration } from '../../src/checks/consolidation.js';
import { STAGE_TIMEOUTS_MS } from '../../src/defaults.js';
import { readConfig } from '../../src/inputs.js';

const root = path.resolve(import.meta.dirname, '../..');
process.env.GAC_ACTION_ROOT = root;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'consolidation-'));
const shipped = parseAllDocuments(fs.readFileSync(path.join(root, 'manifests/nodepool.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, unknown>);

/** The shipped NodePool file with its disruption block replaced (undefined removes it). */
function poolWith(disruption: Record<string, unknown> | undefined, annotations?: Record<string, string>) {
  const docs = structuredClone(shipped);
  const np = docs[0] as { spec: Record<string, unknown> & { template: { metadata: Record<string, unknown> } } };
  if (disruption === undefined) delete np.spec.disruption;
  else np.spec.disruption = disruption;
  if (annotations) np.spec.template.metadata.annotations = annotations;
  return { manifests: docs };
}
function poolFile(name: string, pool: { manifests: Record<string, unknown>[] }): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, pool.manifests.map((d) => stringify(d)).join('---\n'));
  return file;
}
const read = (inputs: Record<string, string>) => readConfig((n) => inputs[n] ?? '', { RUNNER_TEMP: tmp });

describe('consolidationFeasibility', () => {
  it('the shipped NodePool consolidates after 10 s', () => {
    expect(consolidationFeasibility({ manifests: shipped })).toEqual({ kind: 'ok', consolidateAfterMs: 10_000 });
  });
  it('a NodePool without a disruption block gets the CRD defaults: consolidateAfter 0s, possible', () => {
    expect(consolidationFeasibility(poolWith(undefined))).toEqual({ kind: 'ok', consolidateAfterMs: 0 });
  });
  it('consolidateAfter: Never is impossible, naming the setting', () => {
    expect(consolidationFeasibility(poolWith({ consolidationPolicy: 'WhenEmptyOrUnderutilized', consolidateAfter: 'Never' }))).toEqual({
      kind: 'impossible',
      setting: 'spec.disruption.consolidateAfter: Never',
      reason: 'Karpenter never consolidates the nodes of this NodePool',
    });
  });
  it.each(['0', '0%', 0])('a budget of nodes %j without a schedule is impossible', (nodes) => {
    const f = consolidationFeasibility(poolWith({ consolidateAfter: '10s', budgets: [{ nodes }] }));
    expect(f).toMatchObject({ kind: 'impossible', setting: `spec.disruption.budgets[0].nodes: "${nodes}"` });
  });
  it('a zero budget with a schedule, or for other reasons only, or beside an open budget for one reason, is possible', () => {
    const ok = (budgets: unknown[], policy = 'WhenEmptyOrUnderutilized') =>
      consolidationFeasibility(poolWith({ consolidationPolicy: policy, consolidateAfter: '10s', budgets })).kind;
    expect(ok([{ nodes: '0', schedule: '0 9 * * mon-fri', duration: '8h' }])).toBe('ok');
    expect(ok([{ nodes: '0', reasons: ['Drifted'] }])).toBe('ok');
    // Underutilized is stopped, Empty is not: empty nodes still go.
    expect(ok([{ nodes: '0', reasons: ['Underutilized'] }])).toBe('ok');
    expect(ok([{ nodes: '10%' }])).toBe('ok');
  });
  it('zero budgets that together cover every reason that removes empty nodes are impossible', () => {
    const f = consolidationFeasibility(
      poolWith({
        consolidateAfter: '10s',
        budgets: [
          { nodes: '0', reasons: ['Empty'] },
          { nodes: '0', reasons: ['Underutilized'] },
        ],
      }),
    );
    expect(f).toMatchObject({ kind: 'impossible' });
    expect((f as { setting: string }).setting).toBe(
      'spec.disruption.budgets[0].nodes: "0" (reasons Empty), spec.disruption.budgets[1].nodes: "0" (reasons Underutilized)',
    );
    // WhenEmpty removes empty nodes only for the reason Empty.
    expect(
      consolidationFeasibility(poolWith({ consolidationPolicy: 'WhenEmpty', consolidateAfter: '10s', budgets: [{ nodes: '0', reasons: ['Empty'] }] })).kind,
    ).toBe('impossible');
  });
  it('WhenEmpty is possible: the run deletes its workload, so its nodes empty', () => {
    expect(consolidationFeasibility(poolWith({ consolidationPolicy: 'WhenEmpty', consolidateAfter: '30s' }))).toEqual({
      kind: 'ok',
      consolidateAfterMs: 30_000,
    });
  });
  it('nodes annotated karpenter.sh/do-not-disrupt are never consolidated', () => {
    expect(consolidationFeasibility(poolWith({ consolidateAfter: '10s' }, { 'karpenter.sh/do-not-disrupt': 'true' }))).toMatchObject({ kind: 'impossible' });
  });
  it('a consolidateAfter longer than the stage timeout allows is slow, not impossible', () => {
    expect(consolidationFeasibility(poolWith({ consolidateAfter: '10m' }))).toEqual({ kind: 'slow', consolidateAfterMs: 600_000 });
    expect(consolidationFeasibility(poolWith({ consolidateAfter: '4m' }))).toEqual({ kind: 'ok', consolidateAfterMs: 240_000 });
  });
});

describe('consolidationTimeoutMs', () => {
  it('is the larger of the timeout and consolidateAfter + 60 s', () => {
    expect(consolidationTimeoutMs(300_000, { kind: 'ok', consolidateAfterMs: 10_000 })).toBe(300_000);
    expect(consolidationTimeoutMs(300_000, { kind: 'slow', consolidateAfterMs: 600_000 })).toBe(660_000);
    expect(consolidationTimeoutMs(300_000, { kind: 'impossible', setting: 's', reason: 'r' })).toBe(300_000);
  });
});

describe('parseKarpenterDuration', () => {
  it('reads the durations Karpenter accepts', () => {
    expect(parseKarpenterDuration('10s')).toBe(10_000);
    expect(parseKarpenterDuration('1h30m')).toBe(5_400_000);
    expect(parseKarpenterDuration('1.5h')).toBeUndefined();
    expect(parseKarpenterDuration('Never')).toBeUndefined();
  });
});

describe('inputs: the NodePool against the consolidation input', () => {
  it('consolidation: require with consolidateAfter: Never is an input error naming the file, the setting and what to do', () => {
    const file = poolFile('never.yaml', poolWith({ consolidateAfter: 'Never' }));
    const { config, errors } = read({ nodepool: file });
    expect(config).toBeUndefined();
    expect(errors).toEqual([
      `input "nodepool": ${file} spec.disruption.consolidateAfter: Never: Karpenter never consolidates the nodes of this NodePool, so consolidation: require cannot pass; accepted: set consolidation: warn or skip, or change the NodePool's disruption settings (e.g. consolidateAfter: 30s, a budget above 0 nodes)`,
    ]);
    expect(errors[0]).toContain(
      describeInfeasible({
        kind: 'impossible',
        setting: 'spec.disruption.consolidateAfter: Never',
        reason: 'Karpenter never consolidates the nodes of this NodePool',
      }),
    );
  });
  it('with consolidation: warn it is a warning; with skip, or without the consolidation stage, nothing', () => {
    const file = poolFile('never2.yaml', poolWith({ consolidateAfter: 'Never' }));
    const warn = read({ nodepool: file, consolidation: 'warn' });
    expect(warn.errors).toEqual([]);
    expect(warn.warnings).toEqual([expect.stringContaining('spec.disruption.consolidateAfter: Never: Karpenter never consolidates')]);
    expect(read({ nodepool: file, consolidation: 'skip' })).toMatchObject({ errors: [], warnings: [] });
    expect(read({ nodepool: file, stages: 'preflight,workload,hpa' })).toMatchObject({ errors: [], warnings: [] });
  });
  it('a budget of 0 nodes is rejected too', () => {
    const file = poolFile('zero.yaml', poolWith({ consolidateAfter: '10s', budgets: [{ nodes: '0' }] }));
    expect(read({ nodepool: file }).errors).toEqual([expect.stringContaining('spec.disruption.budgets[0].nodes: "0": a budget of 0 nodes')]);
  });
  it('a slow NodePool gets consolidateAfter + 60 s as its stage budget; a user timeout below it is raised with a warning', () => {
    const file = poolFile('slow.yaml', poolWith({ consolidateAfter: '10m' }));
    expect(read({ nodepool: file }).config!.timeouts.consolidation).toBe(660_000);
    const short = read({ nodepool: file, timeouts: 'consolidation=2m' });
    expect(short.config!.timeouts.consolidation).toBe(660_000);
    expect(short.warnings).toEqual([
      `input "timeouts": consolidation=2m00s is shorter than the NodePool's consolidateAfter (10m00s) plus 1m00s; the stage gets 11m00s`,
    ]);
  });
  it('the default NodePool and one without a disruption block keep the default timeout', () => {
    expect(read({}).config!.timeouts.consolidation).toBe(STAGE_TIMEOUTS_MS.consolidation);
    const file = poolFile('nodisruption.yaml', poolWith(undefined));
    expect(read({ nodepool: file })).toMatchObject({ errors: [], warnings: [] });
  });
});

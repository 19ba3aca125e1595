// The run's result is pass only when the stages that prove the chain ran and passed (issue 14,
// point 3): `stages: cleanup` once said PASS and claimed cluster_autoscaling without contacting
// the API.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { configFrom } from '../../src/inputs.js';
import { renderJunit } from '../../src/evidence/junit.js';
import { renderEvidenceMarkdown, renderSummary } from '../../src/evidence/markdown.js';
import { buildResults } from '../../src/evidence/model.js';
import { provingStages, requirementsOf, requirementVerdicts, resultOf } from '../../src/evidence/verdict.js';
import { newRunState } from '../../src/state.js';
import { STAGE_NAMES, type StageName, type StageRecord } from '../../src/types.js';
import { fixtureResults, ROOT } from '../support/fixtures.js';

process.env.GAC_ACTION_ROOT = ROOT;
const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'schema/results.schema.json'), 'utf8')) as object;
const ajv = new Ajv2020.default({ allErrors: true });
addFormats.default(ajv);
const validate = ajv.compile(schema);

const T0 = '2026-11-30T10:00:00.000Z';
const rec = (name: StageName, status: StageRecord['status'], message = `${name} ${status}`): StageRecord => ({
  name,
  status,
  message,
  startedAt: T0,
  finishedAt: T0,
  durationMs: 0,
  evidence: [],
  diagnostics: [],
});
/** Records as the runner makes them for a `stages` selection: the rest skip as not selected. */
const selection = (selected: StageName[], overrides: Partial<Record<StageName, StageRecord['status']>> = {}): StageRecord[] =>
  STAGE_NAMES.map((n) =>
    overrides[n] ? rec(n, overrides[n]) : selected.includes(n) || n === 'cleanup' ? rec(n, 'pass') : rec(n, 'skip', 'not selected by the stages input'),
  );
const metric = { scenario: 'metric', consolidation: 'require' } as const;
const all = [...STAGE_NAMES];

function resultsFor(records: StageRecord[], inputs: Record<string, string> = {}) {
  const config = configFrom({ 'run-id': 'verdict-1', 'evidence-dir': '/tmp/evidence-verdict', ...inputs }, {});
  return buildResults(config, newRunState(config), records, '0.1.0', {});
}

describe('resultOf', () => {
  it('passes a full run', () => {
    expect(resultOf(selection(all), metric)).toEqual({ result: 'pass', failedStage: null, unproven: [] });
  });
  it.each([
    ['cleanup', ['cleanup']],
    ['preflight,cleanup', ['preflight', 'cleanup']],
    ['preflight through workload', ['preflight', 'tools', 'karpenter-build', 'karpenter-install', 'nodepool', 'metric', 'workload']],
    ['everything but consolidation (require)', all.filter((s) => s !== 'consolidation')],
  ] as [string, StageName[]][])('is inconclusive, not pass, for stages: %s', (_label, selected) => {
    const { result, failedStage, unproven } = resultOf(selection(selected), metric);
    expect(result).toBe('inconclusive');
    expect(failedStage).toBeNull();
    expect(unproven.length).toBeGreaterThan(0);
    expect(unproven.every((u) => u.reason === 'not selected by the stages input')).toBe(true);
  });
  it('fails whatever was selected when a stage failed', () => {
    expect(resultOf(selection(['preflight'], { preflight: 'fail' }), metric)).toMatchObject({ result: 'fail', failedStage: 'preflight' });
  });
  it('does not need consolidation when the user chose warn or skip', () => {
    const noConsolidation = selection(all, { consolidation: 'skip' });
    expect(resultOf(noConsolidation, { scenario: 'metric', consolidation: 'skip' }).result).toBe('pass');
    expect(resultOf(noConsolidation, { scenario: 'metric', consolidation: 'warn' }).result).toBe('pass');
    expect(resultOf(noConsolidation, metric).result).toBe('inconclusive');
  });
  it('does not need the HPA in the pending-pods scenario (it has none)', () => {
    const records = selection(all, { hpa: 'skip', metric: 'skip' });
    expect(provingStages({ scenario: 'pending-pods', consolidation: 'require' })).toEqual(['workload', 'pending', 'provision', 'schedule', 'consolidation']);
    expect(resultOf(records, { scenario: 'pending-pods', consolidation: 'require' }).result).toBe('pass');
    expect(resultOf(records, metric).result).toBe('inconclusive');
  });
});

describe('requirementVerdicts', () => {
  it('claims nothing it did not check', () => {
    expect(requirementVerdicts(selection(['cleanup']), metric)).toEqual([
      {
        id: 'cluster_autoscaling',
        result: 'not-checked',
        reason: 'workload, pending, provision, schedule, consolidation did not run: not selected by the stages input',
      },
      { id: 'pod_autoscaling', result: 'not-checked', reason: 'workload, hpa did not run: not selected by the stages input' },
    ]);
  });
  it('fails only the requirement whose stage failed; an earlier failure leaves it unchecked', () => {
    const v = requirementVerdicts(selection(all, { provision: 'fail', schedule: 'skip', consolidation: 'skip' }), metric);
    expect(v.map((x) => [x.id, x.result])).toEqual([
      ['cluster_autoscaling', 'fail'],
      ['pod_autoscaling', 'pass'],
    ]);
    const early = requirementVerdicts(selection(['preflight'], { preflight: 'fail' }), metric);
    expect(early.map((x) => x.result)).toEqual(['not-checked', 'not-checked']);
  });
  it('says what a pass with consolidation skip or warn leaves out, and why pending-pods has no pod_autoscaling', () => {
    const v = requirementVerdicts(selection(all, { consolidation: 'skip', hpa: 'skip' }), { scenario: 'pending-pods', consolidation: 'skip' });
    expect(v).toEqual([
      { id: 'cluster_autoscaling', result: 'pass', reason: 'scale-up only: scale-down not checked (consolidation: skip)' },
      { id: 'pod_autoscaling', result: 'not-checked', reason: 'scenario pending-pods scales the Deployment directly, without an HPA' },
    ]);
  });
});

describe('evidence of an inconclusive run', () => {
  const r = resultsFor(selection(['cleanup']), { stages: 'cleanup' });
  it('results.json says inconclusive and why, and is valid against the schema', () => {
    expect(r.run).toMatchObject({ result: 'inconclusive', failedStage: null });
    expect(r.run.unproven).toContain('workload, hpa, pending, provision, schedule, consolidation did not run: not selected by the stages input');
    expect(validate(JSON.parse(JSON.stringify(r)))).toBe(true);
  });
  it('the Markdown never claims cluster_autoscaling or pod_autoscaling PASS, and says the API was not contacted', () => {
    const md = renderEvidenceMarkdown(r, T0);
    expect(md).toContain('- **Result:** INCONCLUSIVE (not proven: ');
    expect(md).toContain('`cluster_autoscaling`: not checked (workload, pending, provision, schedule, consolidation did not run:');
    expect(md).toContain('`pod_autoscaling`: not checked (');
    // Stages may pass (cleanup: PASS); the run and the requirements may not.
    expect(md).not.toMatch(/(Result:\*\*|_autoscaling`:) .*PASS/);
    expect(md).toContain('**Kubernetes:** not contacted (preflight did not pass)');
  });
  it('the job summary heads INCONCLUSIVE with a warning, not PASS', () => {
    const summary = renderSummary(r);
    expect(summary).toMatch(/^## GPU autoscaling conformance: INCONCLUSIVE/);
    expect(summary).toContain('> [!WARNING]\n> **Not proven:** workload, hpa, pending');
    expect(summary).not.toMatch(/PASS/);
  });
  it('junit.xml carries the result and the requirement verdicts as properties', () => {
    const xml = renderJunit(r);
    expect(xml).toContain('<property name="result" value="inconclusive"/>');
    expect(xml).toContain('<property name="cluster_autoscaling" value="not-checked (');
  });
});

describe('results.json schema 1.1', () => {
  it('keeps 1.0 files valid (docs/example/results.json)', () => {
    const old = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs/example/results.json'), 'utf8')) as { schemaVersion: string };
    expect(old.schemaVersion).toBe('1.0');
    expect(validate(old)).toBe(true);
  });
  it('a 1.0 file read back (no requirements) still renders', () => {
    const old = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs/example/results.json'), 'utf8')) as Parameters<typeof renderSummary>[0];
    expect(renderSummary(old)).toMatch(/^## GPU autoscaling conformance: PASS/);
    expect(renderEvidenceMarkdown(old, T0)).toContain('- **Result:** PASS');
    expect(renderJunit(old)).toContain('<property name="result" value="pass"/>');
  });
  it('accepts the three results and rejects others', () => {
    const r = JSON.parse(JSON.stringify(fixtureResults())) as { schemaVersion: string; run: { result: string } };
    expect(r.schemaVersion).toBe('1.2');
    for (const result of ['pass', 'fail', 'inconclusive']) expect(validate({ ...r, run: { ...r.run, result } })).toBe(true);
    expect(validate({ ...r, run: { ...r.run, result: 'maybe' } })).toBe(false);
  });
});

describe('which requirement each stage is evidence for', () => {
  const metric = { scenario: 'metric', consolidation: 'require' } as const;
  it('maps the chain to cluster_autoscaling, the HPA and its metric to pod_autoscaling, and setup to none', () => {
    expect(requirementsOf('provision', metric)).toEqual(['cluster_autoscaling']);
    expect(requirementsOf('workload', metric)).toEqual(['cluster_autoscaling', 'pod_autoscaling']);
    expect(requirementsOf('hpa', metric)).toEqual(['pod_autoscaling']);
    expect(requirementsOf('metric', metric)).toEqual(['pod_autoscaling']);
    for (const s of ['preflight', 'tools', 'karpenter-build', 'karpenter-install', 'nodepool', 'cleanup'] as const)
      expect(requirementsOf(s, metric)).toEqual([]);
  });
  it('keeps consolidation as scale-down evidence under warn, and has no pod_autoscaling without an HPA', () => {
    expect(requirementsOf('consolidation', { scenario: 'metric', consolidation: 'warn' })).toEqual(['cluster_autoscaling']);
    expect(requirementsOf('hpa', { scenario: 'pending-pods', consolidation: 'require' })).toEqual([]);
    expect(requirementsOf('workload', { scenario: 'pending-pods', consolidation: 'require' })).toEqual(['cluster_autoscaling']);
  });
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { CTRF_EXTRA_KEY, renderCtrf, type CtrfReport } from '../../src/evidence/ctrf.js';
import { writeEvidence } from '../../src/evidence/write.js';
import { VERSION } from '../../src/version.js';
import { fixtureResults, ROOT } from '../support/fixtures.js';

const AT = '2026-11-30T10:01:30.000Z';

/**
 * What the CTRF specification requires of a document (written here from the spec, not copied):
 * reportFormat "CTRF", a MAJOR.MINOR.PATCH specVersion, results.tool.name, the eight summary
 * counts and times as integers, and per test a name, one of the five statuses and an integer
 * duration. Optional fields used by the report are checked for their types too.
 */
const int = { type: 'integer' };
const str = { type: 'string' };
const ctrfRequired = {
  type: 'object',
  required: ['reportFormat', 'specVersion', 'results'],
  properties: {
    reportFormat: { const: 'CTRF' },
    specVersion: { type: 'string', pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+$' },
    runId: { type: 'string', minLength: 1 },
    timestamp: str,
    generatedBy: str,
    extra: { type: 'object' },
    results: {
      type: 'object',
      required: ['tool', 'summary', 'tests'],
      properties: {
        tool: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 }, version: str } },
        summary: {
          type: 'object',
          required: ['tests', 'passed', 'failed', 'skipped', 'pending', 'other', 'start', 'stop'],
          properties: {
            tests: int,
            passed: int,
            failed: int,
            skipped: int,
            pending: int,
            other: int,
            suites: int,
            start: int,
            stop: int,
            duration: int,
            extra: { type: 'object' },
          },
          additionalProperties: false,
        },
        tests: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'status', 'duration'],
            properties: {
              name: { type: 'string', minLength: 1 },
              status: { enum: ['passed', 'failed', 'skipped', 'pending', 'other'] },
              duration: int,
              start: int,
              stop: int,
              suite: { type: 'array', minItems: 1, items: str },
              message: str,
              trace: str,
              rawStatus: str,
              tags: { type: 'array', items: str },
              extra: { type: 'object' },
            },
            additionalProperties: false,
          },
        },
        environment: { type: 'object' },
        extra: { type: 'object' },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
};
const validate = new Ajv2020.default({ allErrors: true }).compile(ctrfRequired);

const through = (r: CtrfReport): unknown => JSON.parse(JSON.stringify(r));

describe('ctrf.json', () => {
  it.each([false, true])('has the fields CTRF requires (failed run: %s)', (failed) => {
    const report = through(renderCtrf(fixtureResults(failed), AT));
    const ok = validate(report);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('matches the golden file of a failed run', async () => {
    await expect(`${JSON.stringify(renderCtrf(fixtureResults(true), AT), null, 2)}\n`).toMatchFileSnapshot('golden/ctrf-failed.json');
  });

  it('has one test per stage, named as the junit testcases, and counts that add up', () => {
    const r = fixtureResults(true);
    const { summary, tests } = renderCtrf(r, AT).results;
    expect(tests.map((t) => t.name)).toEqual(r.stages.map((s) => s.name));
    expect(summary).toMatchObject({ tests: 13, passed: 9, failed: 1, skipped: 3, pending: 0, other: 0 });
    expect(summary.passed + summary.failed + summary.skipped + summary.pending + summary.other).toBe(summary.tests);
    for (const status of ['passed', 'failed', 'skipped'] as const) expect(tests.filter((t) => t.status === status)).toHaveLength(summary[status]);
  });

  it('gives durations in ms and start/stop in epoch ms, from the stages and the run', () => {
    const r = fixtureResults();
    const report = renderCtrf(r, AT);
    expect(report.results.summary).toMatchObject({
      start: Date.parse('2026-11-30T10:00:00.000Z'),
      stop: Date.parse('2026-11-30T10:01:22.000Z'),
      duration: 82_000,
    });
    const hpa = report.results.tests.find((t) => t.name === 'hpa')!;
    expect(hpa).toMatchObject({ duration: 16_000, start: Date.parse('2026-11-30T10:00:05.000Z'), stop: Date.parse('2026-11-30T10:00:21.000Z') });
    expect(report.timestamp).toBe(AT);
  });

  it('names the tool and version as the other evidence does', () => {
    const report = renderCtrf(fixtureResults(), AT);
    expect(report.results.tool).toEqual({ name: 'gpu-autoscaling-conformance', version: '0.1.0' });
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
    expect(report.runId).toBe('fixture-1');
  });

  it('a failing stage is failed, with its message and diagnostics', () => {
    const provision = renderCtrf(fixtureResults(true), AT).results.tests.find((t) => t.name === 'provision')!;
    expect(provision).toMatchObject({
      status: 'failed',
      rawStatus: 'fail',
      message: 'expected 4 GPU nodes above baseline 0; saw 0 after 5m0s | limit',
      suite: ['gpu-autoscaling-conformance.cluster_autoscaling'],
    });
    expect(provision.trace).toContain('$ kubectl get nodeclaims -o wide');
    expect(provision.extra[CTRF_EXTRA_KEY]!.diagnostics[0]!.output).toBe('No resources found <none> & "quoted"');
  });

  it('skipped stages are skipped, with the reason as their message', () => {
    const tests = renderCtrf(fixtureResults(true), AT).results.tests;
    expect(tests.filter((t) => t.status === 'skipped').map((t) => [t.name, t.message])).toEqual([
      ['tools', 'not needed in process mode'],
      ['schedule', 'not run: stage provision failed'],
      ['consolidation', 'not run: stage provision failed'],
    ]);
  });

  it('a passing stage carries its message and evidence in extra, not as a failure message', () => {
    const preflight = renderCtrf(fixtureResults(), AT).results.tests.find((t) => t.name === 'preflight')!;
    expect(preflight.status).toBe('passed');
    expect(preflight).not.toHaveProperty('message');
    expect(preflight.extra[CTRF_EXTRA_KEY]).toMatchObject({
      message: 'Kubernetes v1.34.4; 24 permissions granted; baseline 0 nodes in NodePool gpu',
      proving: false,
      evidence: [{ title: 'Server version', command: 'kubectl version -o yaml', output: 'gitVersion: v1.34.4' }],
    });
    expect(renderCtrf(fixtureResults(), AT).results.tests.find((t) => t.name === 'provision')).toMatchObject({ tags: ['cluster_autoscaling', 'proving'] });
  });

  it('a stage that passed with a warning (consolidation: warn) is passed, with the warning as its message', () => {
    const r = fixtureResults();
    const consolidation = r.stages.find((s) => s.name === 'consolidation')!;
    consolidation.message = 'not back to baseline (2 nodes); accepted because consolidation: warn';
    consolidation.evidence.push({ title: 'Warning: pool not back to baseline (consolidation: warn)', output: 'expected 0 nodes; saw 2' });
    const report = renderCtrf(r, AT);
    expect(report.results.tests.find((t) => t.name === 'consolidation')).toMatchObject({
      status: 'passed',
      rawStatus: 'warn',
      message: 'not back to baseline (2 nodes); accepted because consolidation: warn',
    });
    expect(report.results.summary.other).toBe(0);
  });

  it('carries the verdict, so an inconclusive run does not read as all green', () => {
    const r = fixtureResults();
    r.run.result = 'inconclusive';
    r.run.unproven = 'hpa did not run: not selected by the stages input';
    const report = renderCtrf(r, AT);
    expect(report.results.summary.extra[CTRF_EXTRA_KEY]).toMatchObject({
      result: 'inconclusive',
      unproven: 'hpa did not run: not selected by the stages input',
    });
    expect(report.results.environment).toMatchObject({ healthy: false, buildId: '7', repositoryName: 'org/repo', appVersion: 'v1.34.4' });
  });

  it('is written next to junit.xml, with secrets scrubbed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evidence-'));
    const results = fixtureResults(true);
    results.stages.find((s) => s.name === 'provision')!.message = 'token s3cr3t-t0ken-value rejected';
    const files = writeEvidence(dir, results, ['s3cr3t-t0ken-value']);
    expect(files.map((f) => path.basename(f))).toContain('ctrf.json');
    const text = fs.readFileSync(path.join(dir, 'ctrf.json'), 'utf8');
    expect(text).not.toContain('s3cr3t-t0ken-value');
    const written = JSON.parse(text) as CtrfReport;
    expect(validate(written)).toBe(true);
    expect(written.results.tests.find((t) => t.name === 'provision')!.message).toBe('token *** rejected');
  });
});

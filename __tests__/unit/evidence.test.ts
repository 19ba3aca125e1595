import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { renderJunit } from '../../src/evidence/junit.js';
import { renderEvidenceMarkdown, renderSummary, stageGantt, timelineTable } from '../../src/evidence/markdown.js';
import { timelineOffsets, timingsOf } from '../../src/evidence/model.js';
import { writeEvidence } from '../../src/evidence/write.js';
import { fixtureResults, ROOT } from '../support/fixtures.js';

const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'schema/results.schema.json'), 'utf8')) as object;
const ajv = new Ajv2020.default({ allErrors: true });
addFormats.default(ajv);
const validate = ajv.compile(schema);

/** Reads a JUnit file back the way a reporter would: suites, cases and their outcome. */
function parseJunit(xml: string) {
  const attr = (tag: string, name: string) => new RegExp(`(?:^|\\s)${name}="([^"]*)"`).exec(tag)?.[1];
  const cases = [...xml.matchAll(/<testcase ([^>]*)>([\s\S]*?)<\/testcase>/g)].map(([, head, body]) => ({
    name: attr(head!, 'name'),
    time: Number(attr(head!, 'time')),
    outcome: body!.includes('<failure') ? 'fail' : body!.includes('<skipped') ? 'skip' : 'pass',
    failure: /<failure message="([^"]*)"/.exec(body!)?.[1],
  }));
  const suite = /<testsuite ([^>]*)>/.exec(xml)![1]!;
  return { tests: Number(attr(suite, 'tests')), failures: Number(attr(suite, 'failures')), skipped: Number(attr(suite, 'skipped')), cases };
}

describe('results.json', () => {
  it.each([false, true])('is valid against the published schema (failed run: %s)', (failed) => {
    const results = JSON.parse(JSON.stringify(fixtureResults(failed))) as unknown;
    const ok = validate(results);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });
  it('names the failed stage and the result', () => {
    expect(fixtureResults(true).run).toMatchObject({ result: 'fail', failedStage: 'provision' });
    expect(fixtureResults(false).run).toMatchObject({ result: 'pass', failedStage: null, durationMs: 82_000 });
  });
  it('gives timings of the stages that ran', () => {
    const t = timingsOf(fixtureResults().stages);
    expect(t.hpa).toBe(16_000);
    expect(t).not.toHaveProperty('tools');
  });
  it('the schema rejects a results file missing its stages', () => {
    const { stages: _s, ...rest } = JSON.parse(JSON.stringify(fixtureResults())) as Record<string, unknown>;
    expect(validate(rest)).toBe(false);
  });
});

describe('junit.xml', () => {
  it('has one testcase per stage, with failures and skips a reporter reads', async () => {
    const xml = renderJunit(fixtureResults(true));
    await expect(xml).toMatchFileSnapshot('golden/junit-failed.xml');
    const parsed = parseJunit(xml);
    expect(parsed).toMatchObject({ tests: 13, failures: 1, skipped: 3 });
    expect(parsed.cases.map((c) => c.name)).toEqual(fixtureResults().stages.map((s) => s.name));
    const provision = parsed.cases.find((c) => c.name === 'provision')!;
    expect(provision).toMatchObject({ outcome: 'fail', time: 300, failure: 'expected 4 GPU nodes above baseline 0; saw 0 after 5m0s | limit' });
    expect(xml).toContain('No resources found &lt;none&gt; &amp; &quot;quoted&quot;');
    // Each case names the requirement it is evidence for; setup stages say so.
    expect(xml).toContain('<testcase classname="gpu-autoscaling-conformance.cluster_autoscaling" name="provision"');
    expect(xml).toContain('<testcase classname="gpu-autoscaling-conformance.setup" name="preflight"');
    expect(xml).toMatch(
      /name="workload"[^]*?<property name="requirement" value="cluster_autoscaling"\/>\s*<property name="requirement" value="pod_autoscaling"\/>/,
    );
  });
});

describe('markdown', () => {
  it('renders the CNCF-style evidence file', async () => {
    await expect(renderEvidenceMarkdown(fixtureResults(), '2026-11-30T10:01:30.000Z')).toMatchFileSnapshot('golden/cluster-autoscaling.md');
  });
  it('renders the job summary with the stage table, gantt and timeline', async () => {
    const summary = renderSummary(fixtureResults(true));
    await expect(summary).toMatchFileSnapshot('golden/summary-failed.md');
    expect(summary).toContain('| provision | ❌ fail | 5m00s | `cluster_autoscaling` | expected 4 GPU nodes above baseline 0; saw 0 after 5m0s \\| limit |');
    expect(summary).toContain('> [!CAUTION]');
  });
  it('draws only the stages that ran in the gantt, failures as crit', () => {
    const gantt = stageGantt(fixtureResults(true));
    expect(gantt).toContain('provision (5m00s) :crit, ');
    expect(gantt).not.toContain('schedule');
  });
});

describe('writeEvidence', () => {
  it('writes the three files and scrubs secrets from them and from component logs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evidence-'));
    fs.writeFileSync(path.join(dir, 'karpenter.log'), 'auth with token s3cr3t-t0ken-value\n');
    const results = fixtureResults();
    results.stages[0]!.message = 'bearer s3cr3t-t0ken-value';
    const files = writeEvidence(dir, results, ['s3cr3t-t0ken-value']);
    expect(files.map((f) => path.basename(f))).toEqual(['cluster-autoscaling.md', 'ctrf.json', 'junit.xml', 'karpenter.log', 'results.json']);
    for (const f of files) expect(fs.readFileSync(f, 'utf8')).not.toContain('s3cr3t-t0ken-value');
    expect(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')).toContain('bearer ***');
  });
});

describe('timeline order', () => {
  it('orders by time, not by text: 10:00:36Z comes before 10:00:36.790Z', () => {
    const r = fixtureResults();
    const later = { event: 'first-pod-unschedulable' as const, at: '2026-11-30T10:00:36.790Z', source: 'event' };
    const earlier = { event: 'metric-first-seen' as const, at: '2026-11-30T10:00:36Z', source: 'metric' };
    const offsets = timelineOffsets([later, earlier]);
    expect(offsets.map((o) => [o.entry.event, o.offsetMs])).toEqual([
      ['metric-first-seen', 0],
      ['first-pod-unschedulable', 790],
    ]);
    expect(timelineTable({ ...r, timeline: [later, earlier] })).not.toContain('+-');
  });
});

// ctrf.json: the run as a CTRF report (Common Test Report Format, ctrf.io), one test per stage,
// for pipelines that read CTRF rather than JUnit. Pure: the evidence model in, the report out.
import type { EvidenceItem, StageRecord } from '../types.js';
import type { Results } from './model.js';
import { provingStages } from './verdict.js';

/**
 * The CTRF specification version the report follows: the version the specification text states
 * (its pre-1.0 working draft). The schema only asks for MAJOR.MINOR.PATCH.
 */
export const CTRF_SPEC_VERSION = '0.0.0';

/**
 * The one namespaced key this tool uses in every CTRF `extra` object: the specification asks
 * producers for a namespaced key (prefix, delimiter, identifier), the same one throughout a report.
 */
export const CTRF_EXTRA_KEY = 'gpu-autoscaling-conformance.results';

export type CtrfStatus = 'passed' | 'failed' | 'skipped' | 'pending' | 'other';

export interface CtrfTest {
  name: string;
  status: CtrfStatus;
  /** ms */
  duration: number;
  /** epoch ms */
  start: number;
  stop: number;
  suite: string[];
  /** The stage's status as results.json spells it: pass, fail, skip, or warn (a pass with a warning). */
  rawStatus: string;
  message?: string;
  trace?: string;
  tags?: string[];
  extra: Record<string, CtrfStageExtra>;
}

export interface CtrfStageExtra {
  /** The stage's own message, whatever its status. */
  message: string;
  /** Whether the run's verdict rests on this stage (verdict.ts provingStages). */
  proving: boolean;
  /** The conformance requirements the stage is evidence for (verdict.ts requirementMap). */
  requirements: string[];
  startedAt: string;
  finishedAt: string;
  evidence: EvidenceItem[];
  diagnostics: EvidenceItem[];
}

export interface CtrfReport {
  reportFormat: 'CTRF';
  specVersion: string;
  runId: string;
  timestamp: string;
  generatedBy: string;
  results: {
    tool: { name: string; version: string };
    summary: {
      tests: number;
      passed: number;
      failed: number;
      skipped: number;
      pending: number;
      other: number;
      suites: number;
      start: number;
      stop: number;
      duration: number;
      extra: Record<string, unknown>;
    };
    tests: CtrfTest[];
    environment: Record<string, unknown>;
    extra: Record<string, unknown>;
  };
}

/**
 * A stage that passed with a warning: consolidation under `consolidation: warn` passes and records
 * a "Warning: ..." evidence item when the pool did not shrink.
 */
const warned = (s: StageRecord): boolean => s.status === 'pass' && s.evidence.some((e) => e.title.startsWith('Warning:'));

/**
 * pass -> passed, fail -> failed, skip (not selected, or not run after a failure) -> skipped.
 * A pass with a warning stays `passed`, with the warning as its message and rawStatus `warn`:
 * the run's verdict counts it as a pass (the user chose to accept a pool that does not shrink), and
 * `other` would make CTRF dashboards count the stage as neither passed nor failed, i.e. a red flag
 * the JUnit report and the job summary do not raise for the same run.
 */
export function ctrfStatus(s: StageRecord): CtrfStatus {
  return s.status === 'pass' ? 'passed' : s.status === 'fail' ? 'failed' : 'skipped';
}

const epochMs = (iso: string): number => Math.round(Date.parse(iso));

export function renderCtrf(r: Results, generatedAt: string): CtrfReport {
  const suite = `gpu-autoscaling-conformance.${r.requirement.id}`;
  const proving = new Set(provingStages({ scenario: r.scenario.name, consolidation: r.scenario.consolidation }));
  const tests = r.stages.map((s): CtrfTest => {
    const status = ctrfStatus(s);
    const warning = warned(s);
    // As in junit.xml: a failure carries the diagnostics a person needs.
    const trace = s.diagnostics.map((d) => `${d.title}${d.command ? `\n$ ${d.command}` : ''}${d.output ? `\n${d.output}` : ''}`).join('\n\n');
    return {
      name: s.name,
      status,
      duration: Math.max(0, Math.round(s.durationMs)),
      start: epochMs(s.startedAt),
      stop: epochMs(s.finishedAt),
      suite: [suite],
      rawStatus: warning ? 'warn' : s.status,
      // CTRF's message is the failure message: failures, skip reasons and warnings, not a pass's report.
      ...(status !== 'passed' || warning ? { message: s.message } : {}),
      ...(status === 'failed' && trace ? { trace } : {}),
      // Tags name the requirements the stage is evidence for (and "proving" when the run's result stands on it).
      ...(proving.has(s.name) || s.requirements?.length ? { tags: [...(s.requirements ?? []), ...(proving.has(s.name) ? ['proving'] : [])] } : {}),
      extra: {
        [CTRF_EXTRA_KEY]: {
          message: s.message,
          proving: proving.has(s.name),
          requirements: s.requirements ?? [],
          startedAt: s.startedAt,
          finishedAt: s.finishedAt,
          evidence: s.evidence,
          diagnostics: s.diagnostics,
        },
      },
    };
  });
  const count = (status: CtrfStatus) => tests.filter((t) => t.status === status).length;
  const start = epochMs(r.run.startedAt);
  const stop = epochMs(r.run.finishedAt);
  const github = r.run.github;
  const environment: Record<string, unknown> = {
    reportName: `GPU autoscaling conformance: ${r.run.result}`,
    appName: 'kubernetes',
    ...(r.cluster.kubernetesVersion ? { appVersion: r.cluster.kubernetesVersion } : {}),
    ...(r.cluster.context ? { testEnvironment: r.cluster.context } : {}),
    ...(github.run_id ? { buildId: github.run_id } : {}),
    ...(github.workflow ? { buildName: github.workflow } : {}),
    ...(github.repository ? { repositoryName: github.repository } : {}),
    ...(github.sha ? { commit: github.sha } : {}),
    ...(github.ref?.startsWith('refs/heads/') ? { branchName: github.ref.slice('refs/heads/'.length) } : {}),
    // A CTRF "healthy" run is one whose verdict is pass: an inconclusive run proved nothing.
    healthy: r.run.result === 'pass',
    extra: { [CTRF_EXTRA_KEY]: { scenario: r.scenario, versions: r.versions, outputs: r.outputs } },
  };
  return {
    reportFormat: 'CTRF',
    specVersion: CTRF_SPEC_VERSION,
    runId: r.run.id,
    timestamp: generatedAt,
    generatedBy: `${r.tool.name} ${r.tool.version}`,
    results: {
      tool: { name: r.tool.name, version: r.tool.version },
      summary: {
        tests: tests.length,
        passed: count('passed'),
        failed: count('failed'),
        skipped: count('skipped'),
        pending: count('pending'),
        other: count('other'),
        suites: 1,
        start,
        stop,
        duration: Math.max(0, stop - start),
        // The verdict, as junit.xml's properties carry it: a reader that only counts tests would
        // show a run whose proving stages were not selected as all green.
        extra: {
          [CTRF_EXTRA_KEY]: {
            result: r.run.result,
            failedStage: r.run.failedStage,
            unproven: r.run.unproven,
            requirements: r.requirements ?? [],
            ...(r.run.cancelled ? { cancelled: r.run.cancelled } : {}),
          },
        },
      },
      tests,
      environment,
      extra: { [CTRF_EXTRA_KEY]: { schemaVersion: r.schemaVersion, requirement: r.requirement, namespace: r.run.namespace, resultsFile: 'results.json' } },
    },
  };
}

// The main step: validate inputs, run the chain, write and upload the evidence, set outputs.
import * as core from '@actions/core';
import { uploadEvidence } from './evidence/artifact.js';
import { renderSummary } from './evidence/markdown.js';
import { buildResults, timingsOf, type CancelledRun, type Results } from './evidence/model.js';
import { writeEvidence } from './evidence/write.js';
import { readConfig } from './inputs.js';
import { loadKubeConfig } from './kube/client.js';
import { runStages } from './runner.js';
import { kubeconfigSecrets, knownSecrets, redact, registerSecrets } from './secrets.js';
import { ALL_STAGES } from './stages/index.js';
import { checkpoint, markEvidence, markMainDone, markInputsRejected, markMainStarted, newRunState } from './state.js';
import type { Config, RunState, StageName, StageRecord } from './types.js';
import { VERSION } from './version.js';

export async function main(): Promise<void> {
  markMainStarted();
  const { config, errors, warnings } = readConfig((name) => core.getInput(name));
  for (const w of warnings) core.warning(w);
  if (!config) {
    core.setOutput('result', 'fail');
    core.setOutput('failed-stage', 'inputs');
    markInputsRejected();
    core.setFailed(`inputs: ${errors.length} invalid input(s), nothing was changed in the cluster:\n${errors.map((e) => `  - ${e}`).join('\n')}`);
    return;
  }
  maskKubeconfigSecrets(config);
  const run = newRunState(config);
  checkpoint(config, run);
  core.info(`run ${run.runId}: namespace ${run.namespace}, mode ${config.karpenterMode}, scenario ${config.scenario}, evidence in ${config.evidenceDir}`);

  // The runner cancels with SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after that:
  // about 10 s in all. results.json is written at the signal (what was seen so far), again when
  // cleanup starts and after it; post finishes cleanup and uploads the evidence if the kill comes first.
  const state: RunProgress = { records: [] };
  const cancel = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    const first = !cancel.signal.aborted;
    if (first) state.cancelled = { signal: sig, stage: state.current ?? null, at: new Date().toISOString(), cleanup: 'pending' };
    // The evidence first (synchronously): the kill may follow any moment.
    writeCancelled(config, run, state);
    core.warning(first ? `received ${sig}: stopping the current stage, then cleaning up` : `received ${sig}: still cleaning up (post cleans up what is left)`);
    if (first) cancel.abort(new Error(`cancelled by ${sig}`));
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);

  try {
    await runAndReport(config, run, cancel, state);
  } finally {
    // Done: a signal now ends the process as it would without the action's handlers.
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

/** How far the run got: the stages recorded, the one under way, and the cancel when there was one. */
export interface RunProgress {
  records: readonly StageRecord[];
  current?: StageName;
  cancelled?: CancelledRun;
}

async function runAndReport(config: Config, run: RunState, cancel: AbortController, state: RunProgress): Promise<void> {
  const { records } = await runStages(ALL_STAGES, config, {
    run,
    signal: cancel.signal,
    onCheckpoint: (r) => checkpoint(config, r),
    onProgress: (recs, current) => {
      state.records = recs;
      state.current = current;
      // Cancelled: results.json again before cleanup starts, now with the interrupted stage's own record.
      if (state.cancelled && current === 'cleanup') writeCancelled(config, run, state);
    },
  });
  state.current = undefined;
  const cleanup = records.find((r) => r.name === 'cleanup');
  if (cleanup?.status === 'pass') markMainDone();

  const results = buildResults(config, run, records, VERSION);
  if (state.cancelled) results.run.cancelled = { ...state.cancelled, cleanup: cleanup?.status === 'pass' ? 'pass' : 'fail' };
  await report(config, results, knownSecrets(), run.kept);
}

/**
 * results.json (and the other evidence files) as far as a cancelled run got: the stages recorded
 * so far, the one under way recorded as stopped by the cancel (unless it is cleanup, still going),
 * and run.cancelled with cleanup pending. Synchronous, so it is on disk before the signal handler
 * returns. Never throws: cleanup must still run.
 */
export function writeCancelled(config: Config, run: RunState, state: RunProgress, now = new Date()): Results | undefined {
  if (!state.cancelled) return undefined;
  try {
    const records = [...state.records];
    const current = state.current;
    if (current && current !== 'cleanup' && !records.some((r) => r.name === current)) {
      records.push({
        name: current,
        status: 'fail',
        message: `${current} cancelled (${state.cancelled.signal}) while under way; cleanup follows`,
        startedAt: now.toISOString(),
        finishedAt: now.toISOString(),
        durationMs: 0,
        evidence: [],
        diagnostics: [],
      });
    }
    const results = buildResults(config, run, records, VERSION);
    // A cancel after cleanup (during the upload, say) knows how cleanup went.
    const cleanup = records.find((r) => r.name === 'cleanup');
    results.run.cancelled = { ...state.cancelled, cleanup: cleanup ? (cleanup.status === 'pass' ? 'pass' : 'fail') : 'pending' };
    writeEvidence(config.evidenceDir, results, knownSecrets());
    markEvidence('written');
    return results;
  } catch (e) {
    core.warning(`could not write the evidence of the cancelled run: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * Evidence files, outputs, artifact, job summary, in that order: the outputs do not depend on
 * the upload or the summary, and a summary that cannot be written (no GITHUB_STEP_SUMMARY on
 * older GHES or local runners, an unwritable file) is a warning, never the run's failure.
 */
export async function report(config: Config, results: Results, secrets: string[], kept: string[] = []): Promise<void> {
  await core.group('evidence', async () => {
    const files = writeEvidence(config.evidenceDir, results, secrets);
    markEvidence('written');
    core.info(`${files.length} evidence file(s) in ${config.evidenceDir}`);
    core.setOutput('evidence-dir', config.evidenceDir);
    core.setOutput('result', results.run.result);
    core.setOutput('failed-stage', results.run.failedStage ?? '');
    core.setOutput('timings', JSON.stringify(timingsOf(results.stages)));
    core.setOutput('nodes-provisioned', results.outputs.nodesProvisioned ?? '');
    core.setOutput('pods-scheduled', results.outputs.podsScheduled ?? '');
    core.setOutput('hpa-desired-replicas', results.outputs.hpaDesiredReplicas ?? '');
    core.setOutput('kept-installed', kept.join(', '));
    try {
      const upload = await uploadEvidence(config.evidenceDir, config.artifactName, config.retentionDays);
      if (upload.uploaded) {
        core.setOutput('artifact-id', String(upload.id));
        markEvidence('uploaded');
      } else core.notice(`artifact upload skipped: ${upload.reason}`);
    } catch (e) {
      // The evidence is on disk either way; a failed upload must not hide the run's own result.
      core.warning(`artifact upload failed: ${(e as Error).message}. The evidence is still in ${config.evidenceDir}`);
    }
    if (config.summary) {
      try {
        const keptNote = kept.length ? `\n**Kept installed for later steps** (keep-installed): ${kept.join(', ')}\n` : '';
        await core.summary.addRaw(redact(renderSummary(results) + keptNote, secrets), true).write();
      } catch (e) {
        core.summary.emptyBuffer();
        core.warning(`job summary not written: ${(e as Error).message}. The outputs are set and the evidence is in ${config.evidenceDir}`);
      }
    }
  });
  if (results.run.result === 'fail') {
    const failed = results.stages.find((s) => s.status === 'fail')!;
    core.setFailed(`${failed.name}: ${redact(failed.message, secrets)}`);
  } else if (results.run.cancelled) {
    core.setFailed(`cancelled by ${results.run.cancelled.signal}${results.run.cancelled.stage ? ` during ${results.run.cancelled.stage}` : ''}`);
  }
}

function maskKubeconfigSecrets(config: Config): void {
  try {
    registerSecrets(kubeconfigSecrets(loadKubeConfig(config)));
  } catch {
    // No loadable kubeconfig means no secrets to mask; preflight reports the problem.
  }
}

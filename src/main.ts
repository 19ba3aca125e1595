// The main step: validate inputs, run the chain, write and upload the evidence, set outputs.
import * as core from '@actions/core';
import { uploadEvidence } from './evidence/artifact.js';
import { renderSummary } from './evidence/markdown.js';
import { buildResults, timingsOf, type Results } from './evidence/model.js';
import { writeEvidence } from './evidence/write.js';
import { readConfig } from './inputs.js';
import { loadKubeConfig } from './kube/client.js';
import { runStages } from './runner.js';
import { kubeconfigSecrets, knownSecrets, redact, registerSecrets } from './secrets.js';
import { ALL_STAGES } from './stages/index.js';
import { checkpoint, markEvidence, markMainDone, markMainStarted, newRunState } from './state.js';
import type { Config, RunState, StageName, StageRecord } from './types.js';
import { VERSION } from './version.js';

export async function main(): Promise<void> {
  markMainStarted();
  const { config, errors, warnings } = readConfig((name) => core.getInput(name));
  for (const w of warnings) core.warning(w);
  if (!config) {
    core.setOutput('result', 'fail');
    core.setOutput('failed-stage', 'inputs');
    core.setFailed(`inputs: ${errors.length} invalid input(s), nothing was changed in the cluster:\n${errors.map((e) => `  - ${e}`).join('\n')}`);
    return;
  }
  maskKubeconfigSecrets(config);
  const run = newRunState(config);
  checkpoint(config, run);
  core.info(`run ${run.runId}: namespace ${run.namespace}, mode ${config.karpenterMode}, scenario ${config.scenario}, evidence in ${config.evidenceDir}`);

  // What the stages have done so far, so a cancel can write results.json at once.
  const progress: { records: readonly StageRecord[]; current?: StageName } = { records: [] };
  // The runner cancels with SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after that:
  // about 10 s in all. The evidence of what was seen is written first, cleanup goes next (post
  // finishes it, and uploads the evidence, if the kill comes first).
  const cancel = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    const first = !cancel.signal.aborted;
    core.warning(first ? `received ${sig}: stopping the current stage, then cleaning up` : `received ${sig}: still cleaning up (post cleans up what is left)`);
    if (first) cancel.abort(new Error(`cancelled by ${sig}`));
    writeCancelled(config, run, progress, sig);
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);

  try {
    await runAndReport(config, run, cancel, progress);
  } finally {
    // Done: a signal now ends the process as it would without the action's handlers.
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

async function runAndReport(
  config: Config,
  run: RunState,
  cancel: AbortController,
  progress: { records: readonly StageRecord[]; current?: StageName },
): Promise<void> {
  let cancelWritten = false;
  const { records } = await runStages(ALL_STAGES, config, {
    run,
    signal: cancel.signal,
    onCheckpoint: (r) => checkpoint(config, r),
    onProgress: (recs, current) => {
      progress.records = recs;
      progress.current = current;
      // Cancelled: results.json again before cleanup starts, now with the interrupted stage's own record.
      if (cancel.signal.aborted && current === 'cleanup' && !cancelWritten) {
        cancelWritten = true;
        writeCancelled(config, run, progress, signalOf(cancel.signal));
      }
    },
  });
  if (records.find((r) => r.name === 'cleanup')?.status === 'pass') markMainDone();

  const results = buildResults(config, run, records, VERSION);
  await report(config, results, knownSecrets());
}

const signalOf = (signal: AbortSignal): string => /SIG[A-Z]+/.exec(String((signal.reason as Error | undefined)?.message))?.[0] ?? 'cancel';

/**
 * results.json (and the other evidence files) as far as the run got when it was cancelled: the
 * stages recorded so far, and the one under way recorded as failed by the cancel. Synchronous,
 * so it is on disk before the signal handler returns. Never throws: cleanup must still run.
 */
export function writeCancelled(
  config: Config,
  run: RunState,
  progress: { records: readonly StageRecord[]; current?: StageName },
  sig: string,
  now = new Date(),
): Results | undefined {
  try {
    const records = [...progress.records];
    if (progress.current && !records.some((r) => r.name === progress.current)) {
      records.push({
        name: progress.current,
        status: 'fail',
        message: `${progress.current} cancelled (${sig}) while under way; cleanup follows`,
        startedAt: now.toISOString(),
        finishedAt: now.toISOString(),
        durationMs: 0,
        evidence: [],
        diagnostics: [],
      });
    }
    const results = buildResults(config, run, records, VERSION);
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
export async function report(config: Config, results: Results, secrets: string[]): Promise<void> {
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
        await core.summary.addRaw(redact(renderSummary(results), secrets), true).write();
      } catch (e) {
        core.summary.emptyBuffer();
        core.warning(`job summary not written: ${(e as Error).message}. The outputs are set and the evidence is in ${config.evidenceDir}`);
      }
    }
  });
  if (results.run.result === 'fail') {
    const failed = results.stages.find((s) => s.status === 'fail')!;
    core.setFailed(`${failed.name}: ${redact(failed.message, secrets)}`);
  }
}

function maskKubeconfigSecrets(config: Config): void {
  try {
    registerSecrets(kubeconfigSecrets(loadKubeConfig(config)));
  } catch {
    // No loadable kubeconfig means no secrets to mask; preflight reports the problem.
  }
}

// The main step: validate inputs, run the chain, write and upload the evidence, set outputs.
import * as core from '@actions/core';
import { uploadEvidence } from './evidence/artifact.js';
import { renderSummary } from './evidence/markdown.js';
import { buildResults, timingsOf, type Results } from './evidence/model.js';
import { writeEvidence } from './evidence/write.js';
import { readConfig } from './inputs.js';
import { loadKubeConfig } from './kube/client.js';
import { runStages } from './runner.js';
import { kubeconfigSecrets, redact } from './secrets.js';
import { ALL_STAGES } from './stages/index.js';
import { checkpoint, markMainDone, markMainStarted, newRunState } from './state.js';
import type { Config } from './types.js';
import { VERSION } from './version.js';

export async function main(): Promise<void> {
  markMainStarted();
  const { config, errors } = readConfig((name) => core.getInput(name));
  if (!config) {
    core.setOutput('result', 'fail');
    core.setOutput('failed-stage', 'inputs');
    core.setFailed(`inputs: ${errors.length} invalid input(s), nothing was changed in the cluster:\n${errors.map((e) => `  - ${e}`).join('\n')}`);
    return;
  }
  const secrets = maskKubeconfigSecrets(config);
  const run = newRunState(config);
  checkpoint(config, run);
  core.info(`run ${run.runId}: namespace ${run.namespace}, mode ${config.karpenterMode}, scenario ${config.scenario}, evidence in ${config.evidenceDir}`);

  // The runner sends SIGINT, then SIGTERM, on cancel: stop the current stage, still clean up.
  const cancel = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    core.warning(`received ${sig}: stopping the current stage, then cleaning up`);
    cancel.abort(new Error(`cancelled by ${sig}`));
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);

  const { records } = await runStages(ALL_STAGES, config, { run, signal: cancel.signal, onCheckpoint: (r) => checkpoint(config, r) });
  if (records.find((r) => r.name === 'cleanup')?.status === 'pass') markMainDone();

  const results = buildResults(config, run, records, VERSION);
  await report(config, results, secrets);
}

async function report(config: Config, results: Results, secrets: string[]): Promise<void> {
  await core.group('evidence', async () => {
    const files = writeEvidence(config.evidenceDir, results, secrets);
    core.info(`${files.length} evidence file(s) in ${config.evidenceDir}`);
    core.setOutput('evidence-dir', config.evidenceDir);
    try {
      const upload = await uploadEvidence(config.evidenceDir, config.artifactName, config.retentionDays);
      if (upload.uploaded) core.setOutput('artifact-id', String(upload.id));
      else core.notice(`artifact upload skipped: ${upload.reason}`);
    } catch (e) {
      // The evidence is on disk either way; a failed upload must not hide the run's own result.
      core.warning(`artifact upload failed: ${(e as Error).message}. The evidence is still in ${config.evidenceDir}`);
    }
    if (config.summary) await core.summary.addRaw(redact(renderSummary(results), secrets), true).write();
  });
  core.setOutput('result', results.run.result);
  core.setOutput('failed-stage', results.run.failedStage ?? '');
  core.setOutput('timings', JSON.stringify(timingsOf(results.stages)));
  core.setOutput('nodes-provisioned', results.outputs.nodesProvisioned ?? '');
  core.setOutput('pods-scheduled', results.outputs.podsScheduled ?? '');
  core.setOutput('hpa-desired-replicas', results.outputs.hpaDesiredReplicas ?? '');
  if (results.run.result === 'fail') {
    const failed = results.stages.find((s) => s.status === 'fail')!;
    core.setFailed(`${failed.name}: ${redact(failed.message, secrets)}`);
  }
}

function maskKubeconfigSecrets(config: Config): string[] {
  try {
    const secrets = kubeconfigSecrets(loadKubeConfig(config));
    for (const s of secrets) core.setSecret(s);
    return secrets;
  } catch {
    // No loadable kubeconfig means no secrets to mask; preflight reports the problem.
    return [];
  }
}

// The post step: repeat cleanup from the state main saved. After a normal run this confirms
// there is nothing left; after a cancel or a crash of main it removes what the run created, and
// writes and uploads the evidence main could not (it knows the evidence dir and artifact name).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import { uploadEvidence } from './evidence/artifact.js';
import { buildResults, type Results } from './evidence/model.js';
import { EVIDENCE_FILES, writeEvidence } from './evidence/write.js';
import { loadKubeConfig } from './kube/client.js';
import { runStages } from './runner.js';
import { kubeconfigSecrets, knownSecrets, registerSecrets } from './secrets.js';
import { cleanupStage } from './stages/cleanup.js';
import { inputsWereRejected, restore, type SavedRun } from './state.js';
import type { StageRecord } from './types.js';
import { VERSION } from './version.js';

export async function post(): Promise<void> {
  const saved = restore();
  if (!saved) {
    core.info(
      inputsWereRejected()
        ? 'post: main rejected its inputs and changed nothing in the cluster: nothing to clean up'
        : 'post: main saved no run state (it stopped before validating its inputs): nothing to clean up',
    );
    return;
  }
  const { config, run, mainDone } = saved;
  try {
    registerSecrets(kubeconfigSecrets(loadKubeConfig(config)));
  } catch {
    // Nothing to mask when the kubeconfig cannot be loaded.
  }
  if (saved.inputsProblem) core.warning(`post: the inputs no longer validate (${saved.inputsProblem}); cleaning up from the saved state alone`);
  core.info(
    mainDone ? `post: main cleaned up run ${run.runId}; checking nothing is left` : `post: main did not finish cleaning up run ${run.runId}; cleaning up now`,
  );
  // Post keeps nothing: after a normal main what was kept is no longer in the run state; after a cancel or a crash everything goes.
  const { records } = await runStages([cleanupStage], { ...config, stages: ['cleanup'], keepInstalled: false }, { run });
  const cleanup = records[0]!;
  if (saved.evidence !== 'uploaded') await finishEvidence(saved, cleanup);
  if (cleanup.status === 'fail') core.setFailed(`post cleanup: ${cleanup.message}`);
}

/**
 * Main did not upload the evidence (killed, or cancelled before it got there): results.json gets
 * post's cleanup record when main did not finish cleaning up, then the dir is uploaded. Best effort:
 * a problem here is a warning, the cleanup's own result stands.
 */
async function finishEvidence(saved: SavedRun, cleanup: StageRecord): Promise<void> {
  const { config } = saved;
  try {
    if (!saved.mainDone || !fs.existsSync(path.join(config.evidenceDir, EVIDENCE_FILES.results))) {
      const results = withPostCleanup(readResults(config.evidenceDir), cleanup) ?? buildResults(config, saved.run, [cleanup], VERSION);
      writeEvidence(config.evidenceDir, results, knownSecrets());
      core.info(`post: results.json in ${config.evidenceDir} updated with post's cleanup (${cleanup.status})`);
    }
    const upload = await uploadEvidence(config.evidenceDir, config.artifactName, config.retentionDays);
    if (upload.uploaded) core.info(`post: uploaded the evidence main could not (artifact ${config.artifactName}, id ${upload.id})`);
    else core.notice(`post: artifact upload skipped: ${upload.reason}`);
  } catch (e) {
    core.warning(`post: evidence not uploaded: ${(e as Error).message}. What there is stays in ${config.evidenceDir}`);
  }
}

function readResults(dir: string): Results | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, EVIDENCE_FILES.results), 'utf8')) as Results;
  } catch {
    return undefined;
  }
}

/** main's results with the cleanup record replaced by post's (the last word on what is left). Pure. */
export function withPostCleanup(results: Results | undefined, cleanup: StageRecord): Results | undefined {
  if (!results) return undefined;
  const record = { ...cleanup, message: `post step: ${cleanup.message}`, requirements: [] };
  const stages = [...results.stages.filter((s) => s.name !== 'cleanup'), record];
  const run: Results['run'] = {
    ...results.run,
    finishedAt: cleanup.finishedAt,
    durationMs: Date.parse(cleanup.finishedAt) - Date.parse(results.run.startedAt),
    ...(results.run.cancelled ? { cancelled: { ...results.run.cancelled, cleanup: cleanup.status === 'fail' ? 'fail' : 'pass' } } : {}),
  };
  if (cleanup.status === 'fail' && run.result !== 'fail') Object.assign(run, { result: 'fail', failedStage: 'cleanup' });
  return { ...results, run, stages };
}

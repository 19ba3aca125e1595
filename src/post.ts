// The post step: repeat cleanup from the state main saved. After a normal run this confirms
// there is nothing left; after a cancel or a crash of main it removes what the run created.
import * as core from '@actions/core';
import { runStages } from './runner.js';
import { kubeconfigSecrets } from './secrets.js';
import { cleanupStage } from './stages/cleanup.js';
import { loadKubeConfig } from './kube/client.js';
import { restore } from './state.js';

export async function post(): Promise<void> {
  const saved = restore();
  if (!saved) {
    core.info('post: main saved no run state (it stopped before validating its inputs): nothing to clean up');
    return;
  }
  const { config, run, mainDone } = saved;
  try {
    for (const s of kubeconfigSecrets(loadKubeConfig(config))) core.setSecret(s);
  } catch {
    // Nothing to mask when the kubeconfig cannot be loaded.
  }
  core.info(
    mainDone ? `post: main cleaned up run ${run.runId}; checking nothing is left` : `post: main did not finish cleaning up run ${run.runId}; cleaning up now`,
  );
  const { records } = await runStages([cleanupStage], { ...config, stages: ['cleanup'] }, { run });
  const cleanup = records[0]!;
  if (cleanup.status === 'fail') core.setFailed(`post cleanup: ${cleanup.message}`);
}

// What main hands to post (actions/checkout's state-helper pattern): the config and the run's
// state, saved at every checkpoint so a post step after a cancel or a crash of main can undo
// exactly what this run created.
import * as core from '@actions/core';
import type { Config, RunState } from './types.js';

export const RUN_LABEL_KEY = 'gpu-autoscaling-conformance/run-id';
const KEYS = { isPost: 'isPost', config: 'config', run: 'run', mainDone: 'mainDone' } as const;

export function newRunState(config: Config): RunState {
  return {
    runId: config.runId,
    namespace: `${config.namespacePrefix}-${config.runId}`,
    runLabel: { key: RUN_LABEL_KEY, value: config.runId },
    helmReleases: [],
    appliedClusterObjects: [],
    toolPaths: {},
    versions: {},
    cache: [],
    timeline: [],
    outputs: {},
  };
}

/** True in the post step: main saved isPost before doing anything else. */
export const isPost = (): boolean => core.getState(KEYS.isPost) === 'true';
export const markMainStarted = (): void => core.saveState(KEYS.isPost, 'true');

export function checkpoint(config: Config, run: RunState): void {
  core.saveState(KEYS.config, JSON.stringify(config));
  core.saveState(KEYS.run, JSON.stringify(run));
}

/** Main finished its own cleanup; post then only confirms there is nothing left. */
export const markMainDone = (): void => core.saveState(KEYS.mainDone, 'true');

export interface SavedRun {
  config: Config;
  run: RunState;
  mainDone: boolean;
}

export function restore(): SavedRun | undefined {
  const config = core.getState(KEYS.config);
  const run = core.getState(KEYS.run);
  if (!config || !run) return undefined;
  return { config: JSON.parse(config) as Config, run: JSON.parse(run) as RunState, mainDone: core.getState(KEYS.mainDone) === 'true' };
}

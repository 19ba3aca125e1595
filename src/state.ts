// What main hands to post (actions/checkout's state-helper pattern), bounded: only what post
// must know to undo exactly what this run created and to upload the evidence main could not.
//
// The runner passes every saved value to the post step as one environment variable
// STATE_<name>, and Linux refuses any single environment string of 128 KiB or more (spawn
// fails with E2BIG: no post step, no cleanup). So nothing whose size follows the inputs is saved:
// not the parsed instance types, not the NodePool manifests, not the timeline. Post re-reads its
// inputs (the runner gives it the same ones) for anything else. And core.saveState appends to the
// GITHUB_STATE file on every call, so a value equal to the last one saved is not written again.
import * as core from '@actions/core';
import { INPUT_DEFAULTS } from './defaults.js';
import { readConfig } from './inputs.js';
import { STAGE_NAMES, type Config, type KarpenterMode, type RunState, type StageName } from './types.js';

export const RUN_LABEL_KEY = 'gpu-autoscaling-conformance/run-id';
export const STATE_KEYS = {
  isPost: 'isPost',
  config: 'config',
  run: 'run',
  mainDone: 'mainDone',
  evidence: 'evidence',
  inputsRejected: 'inputsRejected',
} as const;

/** Linux's limit on one environment string (MAX_ARG_STRLEN, 32 pages): the runner's spawn of post fails with E2BIG at this size. */
export const ENV_STRING_LIMIT = 128 * 1024;
/** What one saved value may take (name, value and the runner's STATE_ prefix included); far below ENV_STRING_LIMIT. */
export const STATE_VALUE_BUDGET = 8 * 1024;

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

/** The part of the config post needs: where the cluster is, how Karpenter runs, where the evidence goes, how long cleanup may take. */
export interface SavedConfig {
  kubeconfig?: string;
  context?: string;
  karpenterMode: KarpenterMode;
  /** Where Helm installed Karpenter (its releases and instance-types ConfigMap are removed there). */
  karpenterNamespace: string;
  /** The NodePool the run's NodeClaims belong to (cleanup finds them by it). */
  nodePool: string;
  evidenceDir: string;
  artifactName: string;
  retentionDays: number;
  timeouts: Record<StageName, number>;
}

/** The part of the run state post needs: what was created (namespace, releases, cluster objects, process), never the timeline. */
export type SavedRunState = Pick<
  RunState,
  | 'runId'
  | 'namespace'
  | 'runLabel'
  | 'baselineNodes'
  | 'namespaceCreatedAt'
  | 'leaseNamespace'
  | 'workloadCreatedAt'
  | 'pinnedNodes'
  | 'karpenterPid'
  | 'karpenterLog'
  | 'karpenterHealthUrl'
  | 'helmReleases'
  | 'appliedClusterObjects'
  | 'toolPaths'
>;

/** The bounded config post gets. Pure. */
export function savedConfigOf(config: Config): SavedConfig {
  return {
    kubeconfig: config.kubeconfig,
    context: config.context,
    karpenterMode: config.karpenterMode,
    karpenterNamespace: config.karpenterNamespace,
    nodePool: config.nodePool.name,
    evidenceDir: config.evidenceDir,
    artifactName: config.artifactName,
    retentionDays: config.retentionDays,
    timeouts: config.timeouts,
  };
}

/** The bounded run state post gets: what the run created and the processes it started. Pure. */
export function savedRunOf(run: RunState): SavedRunState {
  return {
    runId: run.runId,
    namespace: run.namespace,
    runLabel: run.runLabel,
    baselineNodes: run.baselineNodes,
    namespaceCreatedAt: run.namespaceCreatedAt,
    leaseNamespace: run.leaseNamespace,
    workloadCreatedAt: run.workloadCreatedAt,
    // n-plus-one: the do-not-disrupt annotations to remove (at most baseline-nodes names).
    pinnedNodes: run.pinnedNodes,
    karpenterPid: run.karpenterPid,
    karpenterLog: run.karpenterLog,
    karpenterHealthUrl: run.karpenterHealthUrl,
    helmReleases: run.helmReleases,
    appliedClusterObjects: run.appliedClusterObjects,
    // Binary paths (helm for uninstall, the Karpenter binary its pid must still run), not versions.
    toolPaths: run.toolPaths,
  };
}

/** True in the post step: main saved isPost before doing anything else. */
export const isPost = (): boolean => core.getState(STATE_KEYS.isPost) === 'true';

/** The last value saved under each name by this process: core.saveState appends to GITHUB_STATE every time. */
const lastSaved = new Map<string, string>();

/** core.saveState, unless the value is the one last saved under that name. Returns whether it wrote. */
export function saveStateOnce(name: string, value: string): boolean {
  if (lastSaved.get(name) === value) return false;
  const size = Buffer.byteLength(`STATE_${name}=${value}`);
  if (size > STATE_VALUE_BUDGET) {
    // Never expected (the saved shapes do not follow the inputs' size); said loudly, as post may not start past ENV_STRING_LIMIT.
    core.warning(`state ${name} is ${size} bytes, above its ${STATE_VALUE_BUDGET}-byte budget; the post step cannot start at ${ENV_STRING_LIMIT} bytes`);
  }
  core.saveState(name, value);
  lastSaved.set(name, value);
  return true;
}

/** For tests: forget what was saved, as a new process would. */
export function resetSavedState(): void {
  lastSaved.clear();
}

export const markMainStarted = (): void => void saveStateOnce(STATE_KEYS.isPost, 'true');

export function checkpoint(config: Config, run: RunState): void {
  saveStateOnce(STATE_KEYS.config, JSON.stringify(savedConfigOf(config)));
  saveStateOnce(STATE_KEYS.run, JSON.stringify(savedRunOf(run)));
}

/** Main finished its own cleanup; post then only confirms there is nothing left. */
export const markMainDone = (): void => void saveStateOnce(STATE_KEYS.mainDone, 'true');

/** Main validated its inputs and rejected them: it changed nothing, and post says so rather than "stopped before validating". */
export const markInputsRejected = (): void => void saveStateOnce(STATE_KEYS.inputsRejected, 'true');
export const inputsWereRejected = (): boolean => core.getState(STATE_KEYS.inputsRejected) === 'true';

/** Where main got with the evidence: written (results.json on disk) or uploaded (post need not upload it again). */
export type EvidenceState = 'written' | 'uploaded';
export const markEvidence = (state: EvidenceState): void => void saveStateOnce(STATE_KEYS.evidence, state);

export interface SavedRun {
  /** The config cleanup runs with: the saved facts over the re-read inputs (or over defaults when they no longer validate). */
  config: Config;
  /** The run state cleanup starts from: what was saved, with empty timeline and results. */
  run: RunState;
  mainDone: boolean;
  /** What main did with the evidence; undefined when it never wrote any. */
  evidence?: EvidenceState;
  /** The inputs did not validate again in post (a file gone, say); the saved facts were used alone. */
  inputsProblem?: string;
}

/**
 * What main saved, for post. `getInput` gives the step's inputs (core.getInput: the runner gives
 * post the same inputs as main); the saved values win over them where both exist, since the run
 * id and defaults derived from it (the evidence dir) are not reproducible from the inputs.
 */
export function restore(getInput: (name: string) => string = (n) => core.getInput(n)): SavedRun | undefined {
  const configText = core.getState(STATE_KEYS.config);
  const runText = core.getState(STATE_KEYS.run);
  if (!configText || !runText) return undefined;
  const saved = JSON.parse(configText) as SavedConfig;
  const savedRun = JSON.parse(runText) as SavedRunState;
  const reread = readConfig(getInput);
  const base = reread.config ?? fallbackConfig(saved, savedRun);
  const config: Config = {
    ...base,
    kubeconfig: saved.kubeconfig,
    context: saved.context,
    runId: savedRun.runId,
    karpenterMode: saved.karpenterMode,
    karpenterNamespace: saved.karpenterNamespace ?? base.karpenterNamespace,
    nodePool: base.nodePool.name === saved.nodePool ? base.nodePool : { name: saved.nodePool, manifests: [] },
    evidenceDir: saved.evidenceDir,
    artifactName: saved.artifactName,
    retentionDays: saved.retentionDays,
    timeouts: { ...base.timeouts, ...saved.timeouts },
  };
  const run: RunState = {
    ...savedRun,
    helmReleases: [...savedRun.helmReleases],
    appliedClusterObjects: [...savedRun.appliedClusterObjects],
    versions: {},
    cache: [],
    timeline: [],
    outputs: {},
  };
  const evidence = core.getState(STATE_KEYS.evidence);
  return {
    config,
    run,
    mainDone: core.getState(STATE_KEYS.mainDone) === 'true',
    evidence: evidence === 'written' || evidence === 'uploaded' ? evidence : undefined,
    inputsProblem: reread.config ? undefined : reread.errors.join('; '),
  };
}

/**
 * A config from the saved facts alone, when the inputs no longer validate in post: the defaults
 * (shipped manifests) under the saved facts. Only cleanup and the evidence upload read it.
 */
function fallbackConfig(saved: SavedConfig, run: SavedRunState): Config {
  const prefix = run.namespace.slice(0, Math.max(0, run.namespace.length - run.runId.length - 1));
  const inputs: Record<string, string> = { 'run-id': run.runId, 'namespace-prefix': prefix, 'evidence-dir': saved.evidenceDir };
  const defaults = readConfig((name) => inputs[name] ?? '').config;
  const facts = {
    kubeconfig: saved.kubeconfig,
    context: saved.context,
    runId: run.runId,
    namespacePrefix: prefix,
    karpenterMode: saved.karpenterMode,
    nodePool: { name: saved.nodePool, manifests: [] },
    instanceTypes: [],
    timeouts: saved.timeouts,
    stages: [...STAGE_NAMES],
    evidenceDir: saved.evidenceDir,
    artifactName: saved.artifactName,
    retentionDays: saved.retentionDays,
  };
  // Even the defaults failing (the action's own files unreadable) leaves what cleanup reads.
  return { ...(defaults ?? ({ ...INPUT_DEFAULTS, summary: true } as unknown as Config)), ...facts };
}

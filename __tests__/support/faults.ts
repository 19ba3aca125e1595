// Fault injection for the reliability tests: start main, wait for a point of the run (a line
// the step prints, the run's first NodeClaim), do something to it, then run post as the runner
// would. Every trigger is an event (output line, watch event), never a delay.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { Results } from '../../src/evidence/model.js';
import type { Kube } from '../../src/kube/client.js';
import { NODECLAIMS } from '../../src/kube/paths.js';
import { watchUntil } from '../../src/kube/watch.js';
import type { RunState } from '../../src/types.js';
import {
  karpenterPidsOf,
  makeRunnerDirs,
  parseCommandFile,
  runPost,
  startMain,
  type ActionResult,
  type ActionRun,
  type RunnerDirs,
  type Step,
} from './harness.js';

export const TOOL_CACHE = path.join(process.env.GAC_CACHE ?? path.join(os.homedir(), '.cache', 'gpu-autoscaling-conformance'), 'toolcache');
/** The action builds Karpenter with go (process mode). */
export const GO_ENV = { PATH: `${process.env.PATH}:/usr/local/go/bin` };

/** Resolves with the first line of the step's stdout matching `re`; rejects if the step ends first. */
export function lineOn(step: Step, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      const hit = lines.find((l) => re.test(l));
      if (hit !== undefined) {
        step.child.stdout!.off('data', onData);
        resolve(hit);
      }
    };
    step.child.stdout!.on('data', onData);
    step.child.once('close', () => reject(new Error(`the step ended before printing a line matching ${re}`)));
  });
}

type Claim = k8s.KubernetesObject & { status?: { conditions?: { type: string; status: string }[] } };

/**
 * Resolves with the name of the first NodeClaim of the pool (the run's: fault runs do not
 * overlap) once it has the condition given (any claim at all without one).
 */
export function firstNodeClaim(kube: Kube, signal: AbortSignal, condition?: 'Launched' | 'Registered' | 'Initialized', pool = 'gpu'): Promise<string> {
  return watchUntil<Claim, string>(kube, {
    path: NODECLAIMS,
    labelSelector: `karpenter.sh/nodepool=${pool}`,
    signal,
    describe: `the first NodeClaim of the run${condition ? ` ${condition}` : ''}`,
    until: (items) =>
      [...items.values()].find((c) => !condition || c.status?.conditions?.some((x) => x.type === condition && x.status === 'True'))?.metadata?.name,
  });
}

export interface FaultRun extends ActionResult {
  evidenceDir: string;
  results?: Results;
  saved: Partial<RunState>;
  /** Every Karpenter pid main saved during the run (cleanup clears the field once it stopped it). */
  karpenterPids: number[];
}

/**
 * main with `during` acting on it as it runs (signals, component stops), then `beforePost` (e.g.
 * restart what was stopped), then post with the state main saved, as the runner runs the step.
 */
export async function runWithFault(
  inputs: Record<string, string>,
  kubeconfig: string,
  during: (step: Step, dirs: RunnerDirs) => Promise<void>,
  opts: { beforePost?: () => Promise<void>; env?: Record<string, string> } = {},
): Promise<FaultRun> {
  const dirs = makeRunnerDirs();
  const evidenceDir = path.join(dirs.temp, 'evidence');
  const run: ActionRun = {
    inputs: { kubeconfig, 'karpenter-mode': 'process', 'evidence-dir': evidenceDir, ...inputs },
    toolCache: TOOL_CACHE,
    dirs,
    env: { ...GO_ENV, ...opts.env },
    // GAC_ECHO=1 shows the steps' output live (debugging a fault test).
    echo: process.env.GAC_ECHO === '1',
  };
  const { step } = startMain(run);
  const acting = during(step, dirs);
  const main = await step.done;
  await acting;
  const outputs = parseCommandFile(fs.readFileSync(dirs.files.output, 'utf8'));
  const state = parseCommandFile(fs.readFileSync(dirs.files.state, 'utf8'));
  await opts.beforePost?.();
  const post = await runPost(run, dirs);
  const resultsFile = path.join(evidenceDir, 'results.json');
  return {
    main,
    post,
    outputs,
    state,
    summary: fs.readFileSync(dirs.files.summary, 'utf8'),
    dirs,
    evidenceDir,
    results: fs.existsSync(resultsFile) ? (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as Results) : undefined,
    saved: JSON.parse(state.run ?? '{}') as Partial<RunState>,
    karpenterPids: karpenterPidsOf(dirs),
  };
}

/** The run state main last saved for post (what the runner would pass as STATE_run). */
export function savedRun(dirs: RunnerDirs): Partial<RunState> {
  return JSON.parse(parseCommandFile(fs.readFileSync(dirs.files.state, 'utf8')).run ?? '{}') as Partial<RunState>;
}

/** A stage's record in results.json. */
export function stageOf(r: FaultRun, name: string): Results['stages'][number] {
  const s = r.results?.stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name} in results.json`);
  return s;
}

// What main saves for post, handed over as the runner does (STATE_<name> from the GITHUB_STATE
// file, refused at 128 KiB like execve): bounded whatever the inputs, written once per change,
// and enough for post to clean up and to upload the evidence main could not.
import * as core from '@actions/core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/inputs.js';
import { main } from '../../src/main.js';
import { post, withPostCleanup } from '../../src/post.js';
import type { Results } from '../../src/evidence/model.js';
import type { StageRecord } from '../../src/types.js';
import { checkpoint, markMainStarted, newRunState, resetSavedState, restore, STATE_VALUE_BUDGET } from '../../src/state.js';
import type { Config, RunState } from '../../src/types.js';
import { ROOT } from '../support/fixtures.js';
import { loopbackKubeconfig } from '../support/loopback.js';
import { startResultsService, type ResultsService } from '../support/results-service.js';
import {
  asPostStep,
  captureStdout,
  E2BigError,
  gpuInstanceTypesFile,
  inputVars,
  makeStepFiles,
  readCommandFile,
  stateEnvFromFile,
  withStepEnv,
  type StepFiles,
} from '../support/runner-state.js';

const BASE = { GAC_ACTION_ROOT: ROOT, RUNNER_TEMP: os.tmpdir(), ACTIONS_RUNTIME_TOKEN: undefined, ACTIONS_RESULTS_URL: undefined };
let typesFile: string;
let kubeconfig: string;

beforeAll(() => {
  typesFile = gpuInstanceTypesFile(400);
  // A loopback server nobody listens on: these tests never reach a cluster (stages: cleanup).
  kubeconfig = loopbackKubeconfig(9);
});
beforeEach(() => resetSavedState());

/** Inputs of a run with several hundred GPU instance types. */
const inputsFor = (evidenceDir: string, extra: Record<string, string> = {}) => ({
  kubeconfig,
  'instance-types': typesFile,
  'evidence-dir': evidenceDir,
  'run-id': 'state-test',
  ...extra,
});

/** Checkpoints as a run makes them: around every stage and at each change, the timeline growing, objects created. */
function checkpointLikeARun(config: Config, run: RunState, n: number): void {
  for (let i = 0; i < n; i++) {
    run.timeline.push({ event: 'node-ready', at: new Date(Date.now() + i).toISOString(), source: `Node gpu-${i} Ready`.repeat(5) });
    if (i === 5) run.appliedClusterObjects.push({ apiVersion: 'karpenter.sh/v1', kind: 'NodePool', name: config.nodePool.name });
    if (i === 6) run.appliedClusterObjects.push({ apiVersion: 'karpenter.kwok.sh/v1alpha1', kind: 'KWOKNodeClass', name: 'default' });
    if (i === 10) run.karpenterPid = 4242;
    if (i === 11) run.namespaceCreatedAt = new Date().toISOString();
    run.versions[`v${i}`] = 'x'.repeat(100);
    checkpoint(config, run);
    checkpoint(config, run); // the same state again: nothing new to write
  }
}

describe('the state main hands to post', () => {
  it('the harness refuses, like execve, a STATE_ value of 128 KiB: the whole config with several hundred instance types is one', async () => {
    const files = makeStepFiles();
    const config = configFrom(inputsFor(files.dir));
    expect(config.instanceTypes).toHaveLength(400);
    // What main saved before: the parsed config as one value.
    await withStepEnv({ ...BASE, GITHUB_STATE: files.state }, () => core.saveState('config', JSON.stringify(config)));
    expect(() => stateEnvFromFile(files.state)).toThrow(E2BigError);
    expect(() => stateEnvFromFile(files.state)).toThrow(/spawn E2BIG: environment string STATE_config=/);
  });

  it('stays a few KiB with 400 GPU instance types and 200 checkpoints: each value under 8 KiB, each written once per change', async () => {
    const files = makeStepFiles();
    const inputs = inputsFor(path.join(files.dir, 'evidence'));
    await withStepEnv({ ...BASE, ...inputVars(inputs), GITHUB_STATE: files.state }, () => {
      const config = configFrom(inputs);
      const run = newRunState(config);
      markMainStarted();
      checkpointLikeARun(config, run, 200);
    });
    const text = fs.readFileSync(files.state, 'utf8');
    const { values, writes } = readCommandFile(text);
    for (const [name, value] of Object.entries(values)) {
      expect(Buffer.byteLength(`STATE_${name}=${value}`), name).toBeLessThan(STATE_VALUE_BUDGET);
    }
    // One config (it never changed), one run state per change (5 changes + the first), never the timeline.
    expect(writes).toEqual({ isPost: 1, config: 1, run: 5 });
    expect(text.length).toBeLessThan(8 * 1024);
    expect(text).not.toContain('gpu-test-');
    expect(text).not.toContain('node-ready');

    // Post gets it as the runner gives it, and re-reads its inputs for the rest.
    const saved = await asPostStep(files, { ...inputs, 'run-id': '' }, () => restore(), BASE);
    expect(saved).toBeDefined();
    expect(saved!.config.runId).toBe('state-test');
    expect(saved!.config.evidenceDir).toBe(inputs['evidence-dir']);
    expect(saved!.config.instanceTypes).toHaveLength(400);
    expect(saved!.run).toMatchObject({
      runId: 'state-test',
      namespace: 'gpu-conformance-state-test',
      karpenterPid: 4242,
      appliedClusterObjects: [{ kind: 'NodePool' }, { kind: 'KWOKNodeClass' }],
      timeline: [],
    });
  });

  it('post cleans up from the saved facts alone when its inputs no longer validate (the instance-types file is gone)', async () => {
    const files = makeStepFiles();
    const gone = gpuInstanceTypesFile(3);
    const inputs = inputsFor(path.join(files.dir, 'evidence'), { 'instance-types': gone, timeouts: 'cleanup=45s' });
    await withStepEnv({ ...BASE, GITHUB_STATE: files.state }, () => {
      const config = configFrom(inputs);
      checkpoint(config, newRunState(config));
    });
    fs.rmSync(gone);
    const saved = await asPostStep(files, inputs, () => restore(), BASE);
    expect(saved!.inputsProblem).toMatch(/instance-types/);
    expect(saved!.config).toMatchObject({ runId: 'state-test', kubeconfig, evidenceDir: inputs['evidence-dir'], nodePool: { name: 'gpu' } });
    expect(saved!.config.timeouts.cleanup).toBe(45_000);
  });
});

describe('main then post, as the runner runs the step (stages: cleanup, no cluster)', () => {
  it('post starts with several hundred instance types; the state file stays small', async () => {
    const files = makeStepFiles();
    const inputs = inputsFor(path.join(files.dir, 'evidence'), { stages: 'cleanup' });
    const runnerVars = { ...BASE, GITHUB_STATE: files.state, GITHUB_OUTPUT: files.output, GITHUB_STEP_SUMMARY: files.summary };
    await captureStdout(() => withStepEnv({ ...runnerVars, ...inputVars(inputs) }, () => main()));
    expect(fs.statSync(files.state).size).toBeLessThan(4 * 1024);
    const { stdout } = await captureStdout(() => asPostStep(files, inputs, () => post(), BASE));
    expect(stdout).toContain('post: main cleaned up run state-test; checking nothing is left');
    expect(stdout).not.toContain('::error::');
  });
});

describe('outputs and the job summary', () => {
  const runMain = async (summary: string | undefined) => {
    const files = makeStepFiles();
    const inputs = inputsFor(path.join(files.dir, 'evidence'), { stages: 'cleanup' });
    const { stdout } = await captureStdout(() =>
      withStepEnv({ ...BASE, ...inputVars(inputs), GITHUB_STATE: files.state, GITHUB_OUTPUT: files.output, GITHUB_STEP_SUMMARY: summary }, () => main()),
    );
    return { stdout, outputs: readCommandFile(fs.readFileSync(files.output, 'utf8')).values, files };
  };

  it('GITHUB_STEP_SUMMARY unset (older GHES, local runners): every output is set, the summary is a warning', async () => {
    const { stdout, outputs, files } = await runMain(undefined);
    expect(Object.keys(outputs).sort()).toEqual([
      'evidence-dir',
      'failed-stage',
      'hpa-desired-replicas',
      'kept-installed',
      'nodes-provisioned',
      'pods-scheduled',
      'result',
      'timings',
    ]);
    expect(outputs['evidence-dir']).toBe(path.join(files.dir, 'evidence'));
    expect(stdout).toMatch(/::warning::job summary not written: .*GITHUB_STEP_SUMMARY/);
    expect(stdout).not.toContain('::error::');
    expect(stdout).not.toContain('unexpected error');
  });

  it('GITHUB_STEP_SUMMARY not writable (a directory): outputs set, a warning', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'summary-dir-'));
    const { stdout, outputs } = await runMain(dir);
    expect(outputs.result).toBeDefined();
    expect(outputs.timings).toBeDefined();
    expect(stdout).toMatch(/::warning::job summary not written: /);
    expect(stdout).not.toContain('::error::');
  });

  it('with a writable summary file, the summary is written and no warning is given', async () => {
    const files = makeStepFiles();
    const inputs = inputsFor(path.join(files.dir, 'evidence'), { stages: 'cleanup' });
    const { stdout } = await captureStdout(() =>
      withStepEnv({ ...BASE, ...inputVars(inputs), GITHUB_STATE: files.state, GITHUB_OUTPUT: files.output, GITHUB_STEP_SUMMARY: files.summary }, () => main()),
    );
    expect(fs.readFileSync(files.summary, 'utf8').length).toBeGreaterThan(0);
    expect(stdout).not.toContain('job summary not written');
  });
});

describe('post uploads the evidence main could not', () => {
  let service: ResultsService;
  beforeAll(async () => {
    service = await startResultsService();
  });
  afterAll(() => service.close());

  /** main's state for a run it did not finish: evidence written (results.json on disk), never uploaded. */
  async function killedMain(files: StepFiles, inputs: Record<string, string>): Promise<void> {
    await withStepEnv({ ...BASE, ...inputVars(inputs), GITHUB_STATE: files.state }, () => {
      const config = configFrom(inputs);
      markMainStarted();
      checkpoint(config, newRunState(config));
      core.saveState('evidence', 'written');
    });
    fs.mkdirSync(inputs['evidence-dir']!, { recursive: true });
    fs.writeFileSync(path.join(inputs['evidence-dir']!, 'karpenter.log'), 'started\n');
  }

  it('after a kill of main: post cleans up, writes results.json with its cleanup and uploads the dir under the artifact name', async () => {
    const files = makeStepFiles();
    const inputs = inputsFor(path.join(files.dir, 'evidence'), { 'artifact-name': 'gpu-evidence-post' });
    await killedMain(files, inputs);
    const before = service.artifacts.length;
    const { stdout } = await captureStdout(() => asPostStep(files, inputs, () => post(), { ...BASE, ...service.env }));
    expect(stdout).toContain('post: main did not finish cleaning up run state-test; cleaning up now');
    expect(stdout).toMatch(/post: uploaded the evidence main could not \(artifact gpu-evidence-post, id \d+\)/);
    expect(service.artifacts.length).toBe(before + 1);
    expect(service.artifacts.at(-1)!.createRequest).toMatchObject({ name: 'gpu-evidence-post' });
    const results = JSON.parse(fs.readFileSync(path.join(inputs['evidence-dir']!, 'results.json'), 'utf8')) as { stages: { name: string; message: string }[] };
    expect(results.stages.find((s) => s.name === 'cleanup')!.message).toMatch(/nothing to remove/);
  });

  it('after main uploaded: post uploads nothing again', async () => {
    const files = makeStepFiles();
    const inputs = inputsFor(path.join(files.dir, 'evidence'));
    await killedMain(files, inputs);
    await withStepEnv({ GITHUB_STATE: files.state }, () => core.saveState('evidence', 'uploaded'));
    const before = service.artifacts.length;
    await captureStdout(() => asPostStep(files, inputs, () => post(), { ...BASE, ...service.env }));
    expect(service.artifacts.length).toBe(before);
  });
});

describe('a cancelled run writes results.json before cleanup starts, and again after', () => {
  it('SIGINT during preflight: results.json at once (cancelled, the stage, cleanup pending), then with cleanup done; the step fails', async () => {
    // An API that accepts connections and never answers: preflight waits until the cancel.
    const { createServer } = await import('node:http');
    const server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const files = makeStepFiles();
    const evidenceDir = path.join(files.dir, 'evidence');
    const inputs = inputsFor(evidenceDir, { kubeconfig: loopbackKubeconfig((server.address() as { port: number }).port), stages: 'preflight' });
    const resultsFile = path.join(evidenceDir, 'results.json');
    type R = {
      run: { result: string; cancelled?: { signal: string; stage: string; cleanup: string } };
      stages: { name: string; status: string; message: string }[];
    };
    const read = () => JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as R;
    let atSignal: R | undefined;
    try {
      const { stdout } = await captureStdout(() =>
        withStepEnv({ ...BASE, ...inputVars(inputs), GITHUB_STATE: files.state, GITHUB_OUTPUT: files.output, GITHUB_STEP_SUMMARY: files.summary }, async () => {
          const done = main();
          // The request is open: preflight is under way.
          await new Promise<void>((r) => server.once('request', () => r()));
          process.emit('SIGINT', 'SIGINT');
          // Written by the signal handler itself, before anything else runs.
          atSignal = read();
          await done;
        }),
      );
      expect(atSignal!.run.cancelled).toMatchObject({ signal: 'SIGINT', stage: 'preflight', cleanup: 'pending' });
      expect(atSignal!.stages.map((s) => [s.name, s.status])).toEqual([['preflight', 'fail']]);
      expect(atSignal!.stages[0]!.message).toMatch(/preflight cancelled \(SIGINT\)/);
      const after = read();
      expect(after.run.result).toBe('fail');
      expect(after.run.cancelled).toMatchObject({ signal: 'SIGINT', stage: 'preflight', cleanup: 'pass' });
      expect(after.stages.find((s) => s.name === 'preflight')).toMatchObject({ status: 'fail', message: expect.stringMatching(/cancel/) });
      expect(after.stages.find((s) => s.name === 'cleanup')).toMatchObject({ status: 'pass' });
      expect(stdout).toContain('::warning::received SIGINT: stopping the current stage, then cleaning up');
      expect(stdout).toMatch(/::error::preflight: /);
      // Outputs are there for the steps that follow (if: always()).
      expect(readCommandFile(fs.readFileSync(files.output, 'utf8')).values).toMatchObject({ result: 'fail', 'failed-stage': 'preflight' });
      // Post knows main wrote the evidence but did not upload it.
      expect(readCommandFile(fs.readFileSync(files.state, 'utf8')).values.evidence).toBe('written');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('withPostCleanup', () => {
  const rec = (name: StageRecord['name'], status: StageRecord['status'], message = ''): StageRecord => ({
    name,
    status,
    message,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    durationMs: 60_000,
    evidence: [],
    diagnostics: [],
  });
  const killed = {
    run: {
      result: 'fail',
      failedStage: 'provision',
      startedAt: '2026-01-01T00:00:00.000Z',
      cancelled: { signal: 'SIGINT', stage: 'provision', at: 'x', cleanup: 'pending' },
    },
    stages: [rec('provision', 'fail', 'provision cancelled')],
  } as unknown as Results;

  it("puts post's cleanup in main's results and settles the cancel's cleanup", () => {
    const r = withPostCleanup(killed, rec('cleanup', 'pass', 'namespace deleted'))!;
    expect(r.stages.map((s) => [s.name, s.status, s.message])).toEqual([
      ['provision', 'fail', 'provision cancelled'],
      ['cleanup', 'pass', 'post step: namespace deleted'],
    ]);
    expect(r.run.cancelled).toMatchObject({ cleanup: 'pass' });
    expect(r.run.durationMs).toBe(60_000);
  });

  it('a failed post cleanup fails the run', () => {
    const passed = { ...killed, run: { ...killed.run, result: 'pass', failedStage: null, cancelled: undefined }, stages: [] } as unknown as Results;
    const r = withPostCleanup(passed, rec('cleanup', 'fail', 'left behind: namespace'))!;
    expect(r.run).toMatchObject({ result: 'fail', failedStage: 'cleanup' });
  });
});

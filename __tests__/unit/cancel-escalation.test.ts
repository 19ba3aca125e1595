// The runner's cancel, exactly: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that, sent to
// main running as its own process (src/index.ts, types stripped by Node), then post started as
// the runner starts it (STATE_* from the state file, refused at 128 KiB). No cluster: the API is
// a loopback server that never answers, the artifact service the loopback stand-in behind a
// proxy that can hold its calls.
import * as fs from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Results } from '../../src/evidence/model.js';
import { ROOT } from '../support/fixtures.js';
import { loopbackKubeconfig } from '../support/loopback.js';
import { startResultsService, type ResultsService } from '../support/results-service.js';
import { cancelLikeRunner, inputVars, makeStepFiles, readCommandFile, startSrcStep, stateEnvFromFile, type StepFiles } from '../support/runner-state.js';

let service: ResultsService;
let proxy: Server;
let proxyUrl: string;
/** While set, CreateArtifact calls are held unanswered (an upload that hangs). */
let holdCreate = false;
let onCreate: (() => void) | undefined;
let api: Server;
let onApiRequest: (() => void) | undefined;

beforeAll(async () => {
  service = await startResultsService();
  proxy = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.url!.includes('CreateArtifact')) {
      onCreate?.();
      if (holdCreate) return;
    }
    const answer = await fetch(`${service.url}${req.url}`, {
      method: req.method,
      headers: req.headers as Record<string, string>,
      body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    res.writeHead(answer.status, Object.fromEntries(answer.headers)).end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`;
  // An apiserver that takes requests and never answers them.
  api = createServer(() => onApiRequest?.());
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  for (const s of [proxy, api]) s.closeAllConnections();
  await Promise.all([service.close(), new Promise((r) => proxy.close(r)), new Promise((r) => api.close(r))]);
});

function stepEnv(files: StepFiles, inputs: Record<string, string>): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GAC_ACTION_ROOT: ROOT,
    RUNNER_TEMP: os.tmpdir(),
    GITHUB_ACTIONS: 'true',
    GITHUB_STATE: files.state,
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    ACTIONS_RUNTIME_TOKEN: service.env.ACTIONS_RUNTIME_TOKEN,
    ACTIONS_RESULTS_URL: proxyUrl,
    ...inputVars(inputs),
  };
}

const readResults = (dir: string): Results => JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as Results;

/** Post as the runner starts it: STATE_* from main's state file (E2BIG past 128 KiB), the same inputs, fresh output file. */
async function runPostStep(files: StepFiles, inputs: Record<string, string>) {
  const stateEnv = stateEnvFromFile(files.state);
  fs.writeFileSync(files.output, '');
  const step = await startSrcStep({ ...stepEnv(files, inputs), ...stateEnv });
  return step.done;
}

describe("the runner's cancel (SIGINT, +7.5 s SIGTERM, +2.5 s SIGKILL) of main as a process", () => {
  it('during preflight: results.json written at the SIGINT (cancelled, preflight, cleanup pending); main cleans up, uploads and exits before the SIGTERM', async () => {
    const files = makeStepFiles();
    const evidenceDir = path.join(files.dir, 'evidence');
    const inputs = {
      kubeconfig: loopbackKubeconfig((api.address() as AddressInfo).port),
      stages: 'preflight',
      'evidence-dir': evidenceDir,
      'run-id': 'cancel-a',
      'artifact-name': 'cancel-a',
    };
    const asked = new Promise<void>((r) => (onApiRequest = r));
    // Every version of results.json main writes is kept: what it held when the SIGINT was handled
    // is read from the first version that records the cancel, not raced for while main goes on.
    const resultsFile = path.join(evidenceDir, 'results.json');
    const main = await startSrcStep({ ...stepEnv(files, inputs), GAC_RECORD_WRITES: resultsFile });
    await asked; // preflight is waiting on the API
    const sent = await cancelLikeRunner(main.child);
    const r = await main.done;
    expect(sent).toEqual(['SIGINT']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const versions: Results[] = [];
    for (let n = 1; fs.existsSync(`${resultsFile}.${n}`); n++) versions.push(JSON.parse(fs.readFileSync(`${resultsFile}.${n}`, 'utf8')) as Results);
    const atSigint = versions.find((v) => v.run.cancelled);
    expect(atSigint?.run.cancelled).toMatchObject({ signal: 'SIGINT', stage: 'preflight', cleanup: 'pending' });
    const after = readResults(evidenceDir);
    expect(after.run.cancelled).toMatchObject({ signal: 'SIGINT', stage: 'preflight', cleanup: 'pass' });
    expect(after.stages.find((s) => s.name === 'cleanup')?.status).toBe('pass');
    const outputs = readCommandFile(fs.readFileSync(files.output, 'utf8')).values;
    expect(outputs).toMatchObject({ result: 'fail', 'failed-stage': 'preflight' });
    expect(service.artifacts.find((a) => a.name === 'cancel-a' && a.finalizeRequest)).toBeDefined();

    const post = await runPostStep(files, inputs);
    expect(post.code, post.stdout).toBe(0);
    expect(post.stdout).toContain('post: main cleaned up run cancel-a; checking nothing is left');
    expect(service.artifacts.filter((a) => a.name === 'cancel-a')).toHaveLength(1);
  });

  it('while main uploads (the upload hangs): SIGTERM, then SIGKILL; post uploads the evidence main could not', async () => {
    const files = makeStepFiles();
    const evidenceDir = path.join(files.dir, 'evidence');
    const inputs = { kubeconfig: loopbackKubeconfig(9), stages: 'cleanup', 'evidence-dir': evidenceDir, 'run-id': 'cancel-b', 'artifact-name': 'cancel-b' };
    holdCreate = true;
    const uploading = new Promise<void>((r) => (onCreate = r));
    const main = await startSrcStep(stepEnv(files, inputs));
    await uploading;
    const started = Date.now();
    const sent = await cancelLikeRunner(main.child);
    const r = await main.done;
    expect(sent).toEqual(['SIGINT', 'SIGTERM', 'SIGKILL']);
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeGreaterThanOrEqual(9900);
    expect(r.stdout).toContain('::warning::received SIGTERM: still cleaning up');
    // The evidence main wrote is there, saying it was cancelled after its cleanup passed.
    expect(readResults(evidenceDir).run.cancelled).toMatchObject({ signal: 'SIGINT', stage: null, cleanup: 'pass' });
    expect(readCommandFile(fs.readFileSync(files.state, 'utf8')).values.evidence).toBe('written');
    expect(service.artifacts.find((a) => a.name === 'cancel-b')).toBeUndefined();

    holdCreate = false;
    const post = await runPostStep(files, inputs);
    expect(post.code, post.stdout).toBe(0);
    expect(post.stdout).toMatch(/post: uploaded the evidence main could not \(artifact cancel-b, id \d+\)/);
    const artifact = service.artifacts.find((a) => a.name === 'cancel-b');
    expect(artifact?.finalizeRequest).toBeDefined();
  });
});

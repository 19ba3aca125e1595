// Cancelling the step exactly as the GitHub runner does (SIGINT, SIGTERM 7.5 s later, SIGKILL
// 2.5 s after that), through the bundle against the bed, at two points: during provision and
// during cleanup. Each time: results.json says cancelled (the stage, what was seen) as soon as
// the signal lands, the cluster ends as found after post, and the evidence reaches the artifact
// service (finalized), from main or, when main was killed first, from post.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBed, type Bed } from '../../testbed/lib/bed.js';
import type { Results } from '../../src/evidence/model.js';
import { alive, bedKube } from '../support/cluster.js';
import { firstNodeClaim, lineOn, runWithFault, type FaultRun } from '../support/faults.js';
import { bedKeyMaterial, findSecrets, wideSnapshot, type WideSnapshot } from '../support/leaks.js';
import { startResultsService, type ResultsService } from '../support/results-service.js';
import { cancelLikeRunner } from '../support/runner-state.js';

let bed: Bed;
let before: WideSnapshot;
let secrets: string[];
let service: ResultsService;
const group = (stage: string) => new RegExp(`^::group::\\[\\d+/\\d+\\] ${stage}$`);
const FAST = { scenario: 'pending-pods', 'max-replicas': '2', consolidation: 'skip', 'artifact-name': 'cancelled-run' };

beforeAll(async () => {
  bed = loadBed();
  before = await wideSnapshot(bedKube(bed.kubeconfig));
  secrets = bedKeyMaterial(bed);
  service = await startResultsService();
});
afterAll(() => service.close());

const readResults = (dir: string): Results | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as Results;
  } catch {
    return undefined;
  }
};

async function expectCleanWithArtifact(r: FaultRun, artifactsBefore: number): Promise<void> {
  expect(r.post.code, r.post.stdout.slice(-3000)).toBe(0);
  expect(await wideSnapshot(bedKube(bed.kubeconfig))).toEqual(before);
  for (const pid of r.karpenterPids) expect(alive(pid)).toBe(false);
  expect(findSecrets(r, r.evidenceDir, secrets)).toEqual([]);
  // The run's evidence reached the service, finalized, from main or (main killed first) from post.
  const mine = service.artifacts.slice(artifactsBefore).filter((a) => a.createRequest.name === 'cancelled-run' && a.finalizeRequest);
  expect(mine.length).toBeGreaterThanOrEqual(1);
  expect(r.results?.run.cancelled).toBeDefined();
}

describe("the runner's cancel: SIGINT, +7.5 s SIGTERM, +2.5 s SIGKILL", () => {
  it('during provision: results.json at the SIGINT says cancelled in provision; cleanup done by main or post; artifact uploaded', async () => {
    const kube = bedKube(bed.kubeconfig);
    const artifactsBefore = service.artifacts.length;
    let atSigint: Results | undefined;
    let sent: NodeJS.Signals[] = [];
    const r = await runWithFault(
      { ...FAST, timeouts: 'provision=2m' },
      bed.kubeconfig,
      async (step, dirs) => {
        await lineOn(step, group('provision'));
        await firstNodeClaim(kube, AbortSignal.timeout(120_000));
        const evidenceDir = path.join(dirs.temp, 'evidence');
        // The handler writes synchronously; the first line it prints says it ran.
        const handled = lineOn(step, /received SIGINT/);
        sent = await cancelLikeRunner(step.child, (sig) => {
          if (sig === 'SIGINT') void handled.then(() => (atSigint = readResults(evidenceDir)));
        });
      },
      { env: service.env },
    );
    expect(sent[0]).toBe('SIGINT');
    expect(atSigint?.run.cancelled).toMatchObject({ signal: 'SIGINT', cleanup: 'pending' });
    expect(['provision', 'schedule']).toContain(atSigint?.run.cancelled?.stage);
    expect(r.results!.run.cancelled!.cleanup).toBe('pass');
    if (r.main.signal === 'SIGKILL') expect(r.post.stdout).toContain('post: uploaded the evidence main could not');
    else expect(r.main.code).toBe(1);
    await expectCleanWithArtifact(r, artifactsBefore);
  });

  it('during cleanup (SIGINT as cleanup starts): main is killed or finishes; post completes cleanup and the evidence is uploaded once', async () => {
    const kube = bedKube(bed.kubeconfig);
    const artifactsBefore = service.artifacts.length;
    let sent: NodeJS.Signals[] = [];
    const r = await runWithFault(
      { ...FAST, timeouts: 'provision=2m' },
      bed.kubeconfig,
      async (step) => {
        await lineOn(step, group('provision'));
        await firstNodeClaim(kube, AbortSignal.timeout(120_000));
        // A first cancel stops provision; the runner's cancel proper lands as cleanup starts.
        step.child.kill('SIGINT');
        await lineOn(step, group('cleanup'));
        sent = await cancelLikeRunner(step.child);
      },
      { env: service.env },
    );
    expect(sent[0]).toBe('SIGINT');
    expect(r.results!.run.cancelled).toBeDefined();
    await expectCleanWithArtifact(r, artifactsBefore);
  });
});

// Runs the stages in chain order: one core.group each with its duration, a timeout and an
// AbortSignal per stage, the first failure skips the remaining checks, cleanup always runs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import { stringify } from 'yaml';
import { formatDuration } from './format.js';
import { connect, withSignal, type Kube } from './kube/client.js';
import { startHeartbeat, type Heartbeat } from './stages/heartbeat.js';
import { isConnectionError } from './kube/transient.js';
import type { Stage, StageContext, StageResult } from './stages/stage.js';
import { newRunState } from './state.js';
import type { Config, EvidenceItem, RunState, StageName, StageRecord } from './types.js';

export interface RunOptions {
  run?: RunState;
  /** Cancels the run (SIGTERM/SIGINT from the runner). Cleanup still runs, with its own budget. */
  signal?: AbortSignal;
  /** Called whenever the run's state may have changed, so the post step can clean up. */
  onCheckpoint?: (run: RunState) => void;
  /** Called as each stage starts (`current` set) and ends (its record added): a cancel writes results.json from this. */
  onProgress?: (records: readonly StageRecord[], current?: StageName) => void;
}

export interface RunResult {
  records: StageRecord[];
  run: RunState;
}

/** Why a stage does not run, or undefined when it does. Pure. */
export function skipReasonFor(stage: Stage, config: Config, earlier: StageRecord[], cancelled: boolean): string | undefined {
  if (!config.stages.includes(stage.name)) return 'not selected by the stages input';
  if (stage.name === 'cleanup') return undefined;
  const failed = earlier.find((r) => r.status === 'fail');
  if (failed) return `not run: stage ${failed.name} failed`;
  if (cancelled) return 'not run: the run was cancelled';
  return stage.skipReason?.(config);
}

export async function runStages(stages: Stage[], config: Config, opts: RunOptions = {}): Promise<RunResult> {
  const run = opts.run ?? newRunState(config);
  const records: StageRecord[] = [];
  let kube: Kube | undefined;
  const kubeOnce = (): Kube => (kube ??= connect(config));
  fs.mkdirSync(config.evidenceDir, { recursive: true });
  // While the stages run, other runs on the cluster see this one as live, not as a leftover.
  const heartbeat = startHeartbeat(() => kube, run);
  try {
    await runEach(stages, config, opts, run, records, kubeOnce, heartbeat);
  } finally {
    await heartbeat.stop();
  }
  return { records, run };
}

async function runEach(
  stages: Stage[],
  config: Config,
  opts: RunOptions,
  run: RunState,
  records: StageRecord[],
  kubeOnce: () => Kube,
  heartbeat: Heartbeat,
): Promise<void> {
  for (const [index, stage] of stages.entries()) {
    const startedAt = new Date();
    if (stage.name === 'cleanup' && opts.signal?.aborted) run.cancelled = true;
    const reason = skipReasonFor(stage, config, records, opts.signal?.aborted ?? false);
    if (reason !== undefined) {
      records.push(record(stage, 'skip', reason, startedAt, [], []));
      core.info(`[${index + 1}/${stages.length}] ${stage.name}: skip (${reason})`);
      continue;
    }
    const evidence: EvidenceItem[] = [];
    const diagnostics: EvidenceItem[] = [];
    // Cleanup gets a fresh budget that cancellation does not cut short.
    const signals = [AbortSignal.timeout(config.timeouts[stage.name])];
    if (opts.signal && stage.name !== 'cleanup') signals.push(opts.signal);
    const signal = AbortSignal.any(signals);
    // The stage's clients carry its signal: no request it made outlives it (a hung one kept main alive).
    const ctx = makeContext(config, run, signal, scopedKube(kubeOnce, signal), evidence, diagnostics, () => opts.onCheckpoint?.(run));

    opts.onProgress?.(records, stage.name);
    const rec = await core.group(`[${index + 1}/${stages.length}] ${stage.name}`, async () => {
      opts.onCheckpoint?.(run);
      let result: StageResult | { status: 'fail'; message: string };
      try {
        // Before the run makes its namespace (and so its NodeClaims), its Lease: from then on other runs see it live.
        const work = stage.makesRunNamespace
          ? heartbeat
              .hold(ctx.kube(), config, signal, () => ctx.checkpoint())
              .then(() => {
                ctx.checkpoint();
                return stage.run(ctx);
              })
          : stage.run(ctx);
        result = await untilAborted(work, signal, stage.name, config.timeouts[stage.name]);
      } catch (e) {
        const error = e instanceof Error ? e : new Error(String(e));
        result = { status: 'fail', message: failureMessage(error) };
        // A cancelled run has about 10 s before the runner kills it: cleanup, not diagnostics.
        if (!opts.signal?.aborted || stage.name === 'cleanup') await diagnose(stage, ctx, error, kubeOnce);
      }
      opts.onCheckpoint?.(run);
      const r = record(stage, result.status, result.message, startedAt, evidence, diagnostics);
      const line = `${stage.name}: ${r.status} in ${formatDuration(r.durationMs)} — ${r.message}`;
      if (r.status === 'fail') core.error(line);
      else core.info(line);
      return r;
    });
    records.push(rec);
    opts.onProgress?.(records);
  }
}

/** A stage's error as its message; a bare "fetch failed" from a client call also says what did not answer. Pure. */
export function failureMessage(error: Error): string {
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  if (isConnectionError(error) && cause) return `the Kubernetes API did not answer (${cause.message ?? cause.code}): ${error.message}`;
  return error.message;
}

/** The run's clients scoped to a signal, made on first use. */
const scopedKube = (kube: () => Kube, signal: AbortSignal): (() => Kube) => {
  let scoped: Kube | undefined;
  return () => (scoped ??= withSignal(kube(), signal));
};

async function diagnose(stage: Stage, ctx: StageContext, error: Error, kube: () => Kube): Promise<void> {
  if (!stage.diagnose) return;
  // Diagnostics get their own short budget (and clients on it): the stage's signal has often expired already.
  const signal = AbortSignal.timeout(30_000);
  try {
    await untilAborted(stage.diagnose({ ...ctx, signal, kube: scopedKube(kube, signal) }, error), signal, `${stage.name} diagnostics`, 30_000);
  } catch (e) {
    ctx.diagnostic({ title: 'diagnostics incomplete', output: (e as Error).message });
  }
}

/** How long a stage may take, after its signal aborts, to fail with its own words (the last state its wait saw). */
const ABORT_GRACE_MS = 2000;

/**
 * Resolves with the stage's promise, or rejects when its signal aborts first (timeout or cancel).
 * A stage's waits honour the signal and then fail with what they last saw, which says more than
 * a bare timeout: that message is used when it comes within a short grace.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, what: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      f();
    };
    const onAbort = () => {
      const timedOut = signal.reason instanceof DOMException && signal.reason.name === 'TimeoutError';
      const bare = new Error(timedOut ? `${what} timed out after ${formatDuration(timeoutMs)}` : `${what} cancelled`);
      const grace = setTimeout(() => settle(() => reject(bare)), ABORT_GRACE_MS);
      work
        .then(
          (v) => settle(() => resolve(v)),
          // A request ended by the signal itself says nothing the bare message does not.
          (e: unknown) => settle(() => reject(e === signal.reason || isAbortError(e) ? bare : withContext(bare, e))),
        )
        .finally(() => clearTimeout(grace));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work
      .then(
        (v) => settle(() => resolve(v)),
        // After an abort, the abort path words the failure (with this error as context).
        (e: unknown) => {
          if (!signal.aborted) settle(() => reject(e));
        },
      )
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}

const isAbortError = (e: unknown): boolean => e instanceof DOMException && (e.name === 'AbortError' || e.name === 'TimeoutError');

/** "<stage> timed out after 1m00s: <what the wait last saw>". */
function withContext(bare: Error, cause: unknown): Error {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return detail && !detail.startsWith(bare.message) ? new Error(`${bare.message}: ${detail}`) : bare;
}

function record(
  stage: Stage,
  status: StageRecord['status'],
  message: string,
  startedAt: Date,
  evidence: EvidenceItem[],
  diagnostics: EvidenceItem[],
): StageRecord {
  const finishedAt = new Date();
  return {
    name: stage.name,
    status,
    message,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    evidence,
    diagnostics,
  };
}

function makeContext(
  config: Config,
  run: RunState,
  signal: AbortSignal,
  kube: () => Kube,
  evidence: EvidenceItem[],
  diagnostics: EvidenceItem[],
  checkpoint: () => void,
): StageContext {
  return {
    config,
    run,
    signal,
    kube,
    evidence: (item) => evidence.push(normalise(item)),
    diagnostic: (item) => diagnostics.push(normalise(item)),
    mark: (entry) => {
      // The first time a point is reached is the one that counts.
      if (!run.timeline.some((t) => t.event === entry.event)) run.timeline.push(entry);
    },
    writeFile: (name, content) => {
      const file = path.join(config.evidenceDir, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
      return name;
    },
    checkpoint,
    info: (m) => core.info(m),
    warning: (m) => core.warning(m),
  };
}

function normalise(item: EvidenceItem): EvidenceItem {
  const output = item.output as unknown;
  return typeof output === 'string' || output === undefined ? item : { ...item, output: stringify(output) };
}

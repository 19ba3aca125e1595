import type { Kube } from '../kube/client.js';
import type { Config, EvidenceItem, RunState, StageName, TimelineEntry } from '../types.js';

/** What a stage gets: the config, the run's shared state, its deadline and the recorders. */
export interface StageContext {
  config: Config;
  run: RunState;
  /** Aborted when the stage's timeout passes or the run is cancelled; every wait honours it. */
  signal: AbortSignal;
  /** The cluster clients, made on first use (so bad kubeconfigs fail in preflight, not earlier). */
  kube(): Kube;
  /** Records evidence of what the stage saw. */
  evidence(item: EvidenceItem): void;
  /** Records diagnostics (collected on failure). */
  diagnostic(item: EvidenceItem): void;
  /** Puts a point on the chain's timeline. */
  mark(entry: TimelineEntry): void;
  /** Writes a file into the evidence dir; returns its path relative to the dir. */
  writeFile(name: string, content: string | Buffer): string;
  /** Saves the run state now (for the post step), e.g. right after starting a process. */
  checkpoint(): void;
  info(message: string): void;
  warning(message: string): void;
}

/** A stage's result when it did not fail: pass with a one-line message, or skip with a reason. */
export type StageResult = { status: 'pass'; message: string } | { status: 'skip'; message: string };

export interface Stage {
  name: StageName;
  /**
   * The stage makes what other runs could take for a leftover (the run's namespace, its
   * NodeClaims): the run's namespace and Lease are made before it runs (src/stages/heartbeat.ts).
   */
  makesRunNamespace?: boolean;
  /** Why this stage does not apply to the config (scenario, mode), or undefined when it does. */
  skipReason?(config: Config): string | undefined;
  /** Runs the check. Throws (StageFailure or any Error) to fail the stage. */
  run(ctx: StageContext): Promise<StageResult>;
  /** Gathers diagnostics after a failure of this stage (best effort, same context). */
  diagnose?(ctx: StageContext, error: Error): Promise<void>;
}

/** A failure that says what was expected, what was seen and what to check next. */
export class StageFailure extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(hint ? `${message}. Next: ${hint}` : message);
    this.name = 'StageFailure';
  }
}

export const pass = (message: string): StageResult => ({ status: 'pass', message });
export const skip = (message: string): StageResult => ({ status: 'skip', message });

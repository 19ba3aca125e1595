// What an install mode decides, in one place: the tools it needs, how Karpenter is built and
// installed, what "running" means, what to collect when it fails, and what cleanup removes.
// Stages ask the provider of the run's mode; no stage compares modes.
import type { PermissionRule } from '../checks/permissions.js';
import type { StageContext } from '../stages/stage.js';
import type { ToolDescription } from '../tools/catalog.js';
import type { Config, RunState } from '../types.js';

export interface KarpenterProvider {
  /** The karpenter-mode input value. */
  readonly mode: Config['karpenterMode'];
  /** True when the run starts a Karpenter of its own that acts on every NodePool (two would fight). */
  readonly ownsKarpenter: boolean;
  /** True when a NodePool that exists already is the cluster's and is used as it is. */
  readonly usesInstalledNodePool: boolean;
  /** Cluster-wide API access karpenter-install needs beyond the stage's common rules. */
  installRules(): PermissionRule[];
  /** The released tools to install (ko, Helm), with the version asked for. */
  tools(config: Config): { desc: ToolDescription; version: string }[];
  /** Why nothing is built or installed by this mode (tools, karpenter-build), or undefined. */
  installsNothing?: string;
  /** Mode-specific checks before anything changes (the kind cluster is there; no second Karpenter). */
  preflight(ctx: StageContext, others: { runsWithOwnKarpenter: string[] }): Promise<void>;
  /** Builds (or finds in the cache) what install needs; returns the stage message. */
  build(ctx: StageContext): Promise<string>;
  /** Installs Karpenter and waits until it runs (not only "applied"); returns the stage message. */
  install(ctx: StageContext): Promise<string>;
  /** Diagnostics after a failure of karpenter-install (logs, pods, events). */
  diagnose(ctx: StageContext): Promise<void>;
  /** Whether the run's NodeClaims have nobody left to run their finalizers (this run's Karpenter is gone). */
  claimsOrphaned(run: RunState): boolean;
  /** Stops and removes what the mode installed (process, Helm releases); idempotent; returns what it did. */
  remove(run: RunState, config: Config, signal?: AbortSignal): Promise<string[]>;
}

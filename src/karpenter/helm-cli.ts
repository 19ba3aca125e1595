// Running the helm binary the tools stage installed, with the stage's signal and log.
import { StageFailure, type StageContext } from '../stages/stage.js';
import { run } from '../tools/exec.js';
import { helmListArgs, helmMajor, helmUninstallArgs } from '../tools/helm.js';
import type { Config, RunState } from '../types.js';
import { which } from '../tools/which.js';

export async function helm(ctx: StageContext, args: string[]): Promise<string> {
  const bin = ctx.run.toolPaths.helm ?? which('helm');
  if (!bin) throw new StageFailure('Expected helm from the tools stage or on PATH; found none', 'include tools in the stages input');
  return (await run(bin, args, { signal: ctx.signal, onLine: (l) => ctx.info(`helm: ${l}`) })).stdout;
}

export async function releaseExists(ctx: StageContext, name: string, namespace: string): Promise<boolean> {
  const out = await helm(ctx, helmListArgs({ namespace, name }, ctx.config));
  return out.trim().split('\n').includes(name);
}

/** Uninstalls the Helm releases this run installed, newest first (idempotent: each is dropped from the state once gone). */
export async function uninstallReleases(
  runState: RunState,
  config: Pick<Config, 'kubeconfig' | 'context' | 'helmVersion'>,
  signal?: AbortSignal,
): Promise<string[]> {
  const bin = runState.toolPaths.helm ?? which('helm') ?? 'helm';
  const done: string[] = [];
  for (const release of [...runState.helmReleases].reverse()) {
    // The Helm that installed them (the tools stage's version), else the one asked for.
    await run(bin, helmUninstallArgs(release, config, helmMajor(runState.versions.helm ?? config.helmVersion ?? '')), { signal });
    runState.helmReleases = runState.helmReleases.filter((r) => r !== release);
    done.push(`Helm release ${release.namespace}/${release.name} uninstalled`);
  }
  return done;
}

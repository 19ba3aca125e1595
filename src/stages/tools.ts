import type { Config, RunState } from '../types.js';
import { HELM, KO, type ToolDescription } from '../tools/catalog.js';
import { goEnv } from '../tools/gomod.js';
import { type InstalledTool, installTool } from '../tools/installer.js';
import { which } from '../tools/which.js';
import { pass, StageFailure, type Stage, type StageContext } from './stage.js';

/** The released tools a mode needs, with the version asked for. Process mode builds with Go only. */
export function toolsFor(config: Pick<Config, 'karpenterMode' | 'koVersion' | 'helmVersion'>): { desc: ToolDescription; version: string }[] {
  if (config.karpenterMode === 'kind' || config.karpenterMode === 'registry') {
    return [
      { desc: KO, version: config.koVersion },
      { desc: HELM, version: config.helmVersion },
    ];
  }
  return [];
}

/** Records an installed tool in the run state (PATH, version, cache facts for results.json). */
export function recordTool(run: RunState, t: InstalledTool): void {
  run.toolPaths[t.name] = t.binary;
  run.versions[t.name] = t.version;
  run.cache.push({
    item: `${t.name}@${t.version}`,
    hit: t.source !== 'download',
    ...(t.bytesDownloaded !== undefined ? { bytesDownloaded: t.bytesDownloaded } : {}),
  });
}

/** Finds the Go toolchain the Karpenter build needs (it comes from actions/setup-go or the image). */
export async function requireGo(ctx: StageContext): Promise<string> {
  const go = ctx.run.toolPaths.go ?? which('go');
  if (!go) {
    throw new StageFailure(
      `Expected a Go toolchain on PATH to build Karpenter ${ctx.config.karpenterVersion} (mode ${ctx.config.karpenterMode}); found none`,
      'add actions/setup-go before this step, or use karpenter-mode: existing',
    );
  }
  const env = await goEnv(go, ctx.signal);
  ctx.run.toolPaths.go = go;
  ctx.run.versions.go = env.goVersion;
  return go;
}

export const toolsStage: Stage = {
  name: 'tools',
  skipReason: (config) => (config.karpenterMode === 'existing' ? 'karpenter-mode existing installs nothing' : undefined),
  async run(ctx) {
    const go = await requireGo(ctx);
    const lines = [`go ${ctx.run.versions.go}: ${go}`];
    for (const { desc, version } of toolsFor(ctx.config)) {
      let t: InstalledTool;
      try {
        t = await installTool(desc, version, { mirror: ctx.config.toolsMirror, usePath: true, log: ctx.info });
      } catch (err) {
        throw new StageFailure(
          `Expected ${desc.name} ${version} installed and verified; ${(err as Error).message}`,
          ctx.config.toolsMirror
            ? `check that tools-mirror ${ctx.config.toolsMirror} holds the release files in the official layout`
            : 'check the runner can reach the release host, or set tools-mirror',
        );
      }
      recordTool(ctx.run, t);
      lines.push(
        `${t.name} ${t.version}: ${t.source === 'download' ? `downloaded from ${t.url}, sha256 ${t.sha256} verified (${t.bytesDownloaded} bytes)` : t.source === 'cache' ? 'cache hit in the tool cache, no download' : 'already on PATH at this version'} -> ${t.binary}`,
      );
    }
    ctx.evidence({ title: 'Tools', command: 'go version; ko version; helm version', output: lines.join('\n') });
    const names = lines.map((l) => l.split(':')[0]);
    return pass(`${names.join(', ')} ready${ctx.config.karpenterMode === 'process' ? ' (process mode needs no ko or helm)' : ''}`);
  },
};

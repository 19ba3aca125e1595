import { requireGo } from '../karpenter/build.js';
import { providerFor } from '../karpenter/index.js';
import type { RunState } from '../types.js';
import { type InstalledTool, installTool } from '../tools/installer.js';
import { pass, StageFailure, type Stage } from './stage.js';

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

export const toolsStage: Stage = {
  name: 'tools',
  skipReason: (config) => providerFor(config).installsNothing,
  async run(ctx) {
    const go = await requireGo(ctx);
    const lines = [`go ${ctx.run.versions.go}: ${go}`];
    const tools = providerFor(ctx.config).tools(ctx.config);
    for (const { desc, version } of tools) {
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
    return pass(`${names.join(', ')} ready${tools.length === 0 ? ` (karpenter-mode ${ctx.config.karpenterMode} needs no ko or helm)` : ''}`);
  },
};

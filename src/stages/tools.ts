import { actionsCacheFor, requireGo } from '../karpenter/build.js';
import { providerFor } from '../karpenter/index.js';
import type { CacheFact, RunState } from '../types.js';
import { actionsCacheAvailable } from '../tools/actions-cache.js';
import { type InstalledTool, installTool } from '../tools/installer.js';
import { pass, StageFailure, type Stage } from './stage.js';

const SOURCE: Record<InstalledTool['source'], NonNullable<CacheFact['source']>> = {
  cache: 'tool-cache',
  'actions-cache': 'actions-cache',
  path: 'path',
  download: 'downloaded',
};

/** Records an installed tool in the run state (PATH, version, cache facts for results.json). */
export function recordTool(run: RunState, t: InstalledTool): void {
  run.toolPaths[t.name] = t.binary;
  run.versions[t.name] = t.version;
  run.cache.push({
    item: `${t.name}@${t.version}`,
    hit: t.source !== 'download',
    source: SOURCE[t.source],
    ...(t.bytes !== undefined ? { bytes: t.bytes } : {}),
    ...(t.ms !== undefined ? { ms: t.ms } : {}),
    ...(t.bytesDownloaded !== undefined ? { bytesDownloaded: t.bytesDownloaded } : {}),
    ...(t.actionsCacheKey
      ? { actionsCache: { key: t.actionsCacheKey, ...(t.actionsCacheSave ? { saved: t.actionsCacheSave.saved, saveMs: t.actionsCacheSave.ms } : {}) } }
      : {}),
  });
}

/** Whether the Actions cache is used in this run, said once (the tools stage). */
export function actionsCacheLine(cacheInput: boolean): string {
  if (!cacheInput) return 'Actions cache: off (cache: false), the tool cache only';
  if (!actionsCacheAvailable())
    return 'Actions cache: not available here (neither ACTIONS_RESULTS_URL nor ACTIONS_CACHE_URL is set: not a GitHub runner), the tool cache only';
  return 'Actions cache: on, looked in after the tool cache, saved to after a download or build';
}

export const toolsStage: Stage = {
  name: 'tools',
  skipReason: (config) => providerFor(config).installsNothing,
  async run(ctx) {
    const go = await requireGo(ctx);
    const cacheLine = actionsCacheLine(ctx.config.cache);
    ctx.info(cacheLine);
    const lines = [`go ${ctx.run.versions.go}: ${go}`, cacheLine];
    const tools = providerFor(ctx.config).tools(ctx.config);
    for (const { desc, version } of tools) {
      let t: InstalledTool;
      try {
        t = await installTool(desc, version, { mirror: ctx.config.toolsMirror, usePath: true, log: ctx.info, actionsCache: actionsCacheFor(ctx) });
      } catch (err) {
        throw new StageFailure(
          `Expected ${desc.name} ${version} installed and verified; ${(err as Error).message}`,
          ctx.config.toolsMirror
            ? `check that tools-mirror ${ctx.config.toolsMirror} holds the release files in the official layout`
            : 'check the runner can reach the release host, or set tools-mirror',
        );
      }
      recordTool(ctx.run, t);
      lines.push(`${t.name} ${t.version}: ${toolSourceText(t)} -> ${t.binary}`);
    }
    ctx.evidence({ title: 'Tools', command: 'go version; ko version; helm version', output: lines.join('\n') });
    const names = lines.filter((l) => l !== cacheLine).map((l) => l.split(':')[0]);
    return pass(`${names.join(', ')} ready${tools.length === 0 ? ` (karpenter-mode ${ctx.config.karpenterMode} needs no ko or helm)` : ''}`);
  },
};

function toolSourceText(t: InstalledTool): string {
  const save = t.actionsCacheSave
    ? t.actionsCacheSave.saved
      ? `, saved to the Actions cache in ${t.actionsCacheSave.ms} ms`
      : ', not saved to the Actions cache (see the warning)'
    : '';
  switch (t.source) {
    case 'download':
      return `downloaded from ${t.url}, sha256 ${t.sha256} verified (${t.bytesDownloaded} bytes)${save}`;
    case 'actions-cache':
      return `restored from the Actions cache (${t.bytes} bytes in ${t.ms} ms), no download`;
    case 'cache':
      return 'cache hit in the tool cache, no download';
    default:
      return 'already on PATH at this version';
  }
}

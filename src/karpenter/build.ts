// The Karpenter build the ko and go modes share: find Go, build once per key into the tool
// cache, record it in the run, and read it back at install.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StageFailure, type StageContext } from '../stages/stage.js';
import type { ActionsCacheOptions } from '../tools/actions-cache.js';
import { goEnv } from '../tools/gomod.js';
import { type BuildOptions, type BuildResult, type KarpenterBuild, KARPENTER_TOOL, buildKarpenter } from '../tools/karpenter.js';
import { which } from '../tools/which.js';

/** toolPaths key of the build's tool-cache dir (binary, CRDs, chart, build.json). */
export const BUILD_DIR_KEY = 'karpenter-build';

/** Finds the Go toolchain the Karpenter build needs (it comes from actions/setup-go or the image). */
export async function requireGo(ctx: StageContext): Promise<string> {
  const go = ctx.run.toolPaths.go ?? which('go');
  if (!go) {
    throw new StageFailure(
      `Expected a Go toolchain on PATH to build Karpenter ${ctx.config.karpenterVersion}; found none`,
      'add actions/setup-go before this step, or use karpenter-mode: existing',
    );
  }
  const env = await goEnv(go, ctx.signal);
  ctx.run.toolPaths.go = go;
  ctx.run.versions.go = env.goVersion;
  return go;
}

/** The Actions cache as the cache input asks (undefined: cache false, no request is sent). */
export function actionsCacheFor(ctx: StageContext): ActionsCacheOptions | undefined {
  return ctx.config.cache ? { enabled: true, log: ctx.info, warn: ctx.warning } : undefined;
}

/** The cached build the karpenter-build stage left (CRDs, binary or image, chart). */
export function buildOf(ctx: StageContext): { dir: string; build: KarpenterBuild } {
  const dir = ctx.run.toolPaths[BUILD_DIR_KEY];
  if (!dir)
    throw new StageFailure('Expected the karpenter-build stage to have produced a build; it did not run', 'include karpenter-build in the stages input');
  return { dir, build: JSON.parse(readFileSync(join(dir, 'build.json'), 'utf8')) as KarpenterBuild };
}

export function describeBuild(r: BuildResult): string {
  const b = r.build;
  const saved = r.actionsCacheSave
    ? r.actionsCacheSave.saved
      ? `, saved to the Actions cache (${r.actionsCacheSave.bytes} bytes in ${r.actionsCacheSave.ms} ms)`
      : ', not saved to the Actions cache (see the warning)'
    : '';
  return [
    r.hit
      ? `cache hit${r.source === 'actions-cache' ? ` from the Actions cache (${r.bytes} bytes restored in ${r.restoreMs} ms)` : ' in the tool cache'}: ${KARPENTER_TOOL} ${b.cacheVersion}, build skipped, time saved ~${Math.round((r.savedMs ?? 0) / 1000)} s (the recorded build took ${b.buildMs} ms)`
      : `built in ${b.buildMs} ms, cached as ${KARPENTER_TOOL} ${b.cacheVersion}${saved}`,
    ...(r.actionsCacheKey ? [`Actions cache key: ${r.actionsCacheKey}`] : []),
    `module: ${b.module.path}@${b.module.version}`,
    `go.sum hash: ${b.module.sum}`,
    `go: ${b.goVersion} ${b.platform}`,
    `built at: ${b.builtAt}`,
    b.binary ? `binary: ${join(r.dir, b.binary)}` : `image: ${b.image}`,
    `cache dir: ${r.dir}`,
  ].join('\n');
}

/**
 * Builds Karpenter's KWOK provider for a mode (or takes it from the tool cache), records it in
 * the run state and the evidence, and returns the stage message.
 */
export async function buildForMode(ctx: StageContext, opts: Pick<BuildOptions, 'mode' | 'target' | 'koEnv' | 'imageReady' | 'keepImage'>): Promise<string> {
  const { config } = ctx;
  const go = await requireGo(ctx);
  let r: BuildResult;
  try {
    r = await buildKarpenter({
      ...opts,
      go,
      ko: ctx.run.toolPaths.ko ?? which('ko'),
      karpenterVersion: config.karpenterVersion,
      signal: ctx.signal,
      log: ctx.info,
      actionsCache: actionsCacheFor(ctx),
    });
  } catch (err) {
    // A failure that already says what to do (the registry refused the credentials) stands as it is.
    if (err instanceof StageFailure) throw err;
    const message = (err as Error).message;
    throw new StageFailure(`Expected Karpenter ${config.karpenterVersion}'s KWOK provider to build (${opts.mode} mode); ${message}`, buildFailureHint(message));
  }
  const b = r.build;
  ctx.run.versions.karpenter = b.module.version;
  ctx.run.versions['karpenter-module-sum'] = b.module.sum;
  ctx.run.toolPaths[BUILD_DIR_KEY] = r.dir;
  if (b.binary) ctx.run.toolPaths.karpenter = join(r.dir, b.binary);
  if (b.image) ctx.run.versions['karpenter-image'] = b.image;
  ctx.run.cache.push({
    item: `${KARPENTER_TOOL}@${b.cacheVersion}`,
    hit: r.hit,
    source: r.source,
    ...(r.bytes !== undefined ? { bytes: r.bytes } : {}),
    ms: r.source === 'built' ? b.buildMs : r.source === 'actions-cache' ? (r.restoreMs ?? 0) : 0,
    ...(r.hit ? { savedMs: r.savedMs } : {}),
    ...(r.actionsCacheKey
      ? { actionsCache: { key: r.actionsCacheKey, ...(r.actionsCacheSave ? { saved: r.actionsCacheSave.saved, saveMs: r.actionsCacheSave.ms } : {}) } }
      : {}),
  });
  ctx.evidence({
    title: r.hit ? 'Karpenter build (cache hit)' : 'Karpenter build',
    command: `go mod download -json sigs.k8s.io/karpenter@${config.karpenterVersion}`,
    output: describeBuild(r),
  });
  return r.hit
    ? `cache hit: Karpenter ${b.module.version} (${opts.mode}) from the ${r.source === 'actions-cache' ? `Actions cache (restored in ${((r.restoreMs ?? 0) / 1000).toFixed(1)} s)` : 'tool cache'}, ~${Math.round((r.savedMs ?? 0) / 1000)} s of build saved`
    : `Karpenter ${b.module.version} (${opts.mode}) built in ${Math.round(b.buildMs / 1000)} s and cached`;
}

/** What to check after a failed build: a registry that refused ko's push is about credentials, not Go. Pure. */
export function buildFailureHint(message: string): string {
  if (/\b(401 Unauthorized|403 Forbidden|UNAUTHORIZED|DENIED)\b/.test(message))
    return "check the registry credentials ko pushes with (docker login to the image repository's host, or DOCKER_CONFIG) and that they may push there";
  return 'check the Go toolchain (Karpenter needs the go version in its go.mod) and that the Go module proxy is reachable';
}

import { join } from 'node:path';
import type { Config } from '../types.js';
import { run as runCommand } from '../tools/exec.js';
import { type BuildResult, type KarpenterBuild, KARPENTER_TOOL, buildKarpenter, parseImageRef } from '../tools/karpenter.js';
import { which } from '../tools/which.js';
import { pass, StageFailure, type Stage } from './stage.js';
import { requireGo } from './tools.js';

/** toolPaths key of the build's tool-cache dir (binary, CRDs, chart, build.json). */
export const BUILD_DIR_KEY = 'karpenter-build';

/** `docker exec <node> crictl inspecti <image>`: is the side-loaded image still on the kind node? */
export function kindImageCheckArgs(clusterName: string, image: string): string[] {
  return ['exec', `${clusterName}-control-plane`, 'crictl', 'inspecti', '-q', image];
}

/** The registry API URL of an image's manifest (plain http for loopback registries, as ko does). */
export function manifestUrl(image: string): string | undefined {
  const ref = parseImageRef(image);
  const slash = ref.repository.indexOf('/');
  if (slash < 0) return undefined;
  const host = ref.repository.slice(0, slash);
  const path = ref.repository.slice(slash + 1);
  const reference = ref.digest ?? ref.tag;
  if (!reference) return undefined;
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host);
  return `${loopback ? 'http' : 'https'}://${host}/v2/${path}/manifests/${reference}`;
}

/** A cached ko build is reused only while its image is still where it was put. */
async function imagePresent(config: Config, build: KarpenterBuild, signal: AbortSignal): Promise<boolean> {
  if (!build.image) return true;
  if (config.karpenterMode === 'kind') {
    const docker = which('docker');
    if (!docker) return false;
    return runCommand(docker, kindImageCheckArgs(config.clusterName, build.image), { signal }).then(
      () => true,
      () => false,
    );
  }
  const url = manifestUrl(build.image);
  if (!url) return false;
  const r = await fetch(url, {
    method: 'HEAD',
    signal,
    headers: {
      Accept:
        'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json',
    },
  }).catch(() => undefined);
  return r?.ok ?? false;
}

export function describeBuild(r: BuildResult): string {
  const b = r.build;
  return [
    r.hit
      ? `cache hit: ${KARPENTER_TOOL} ${b.cacheVersion}, build skipped, time saved ~${Math.round((r.savedMs ?? 0) / 1000)} s (the recorded build took ${b.buildMs} ms)`
      : `built in ${b.buildMs} ms, cached as ${KARPENTER_TOOL} ${b.cacheVersion}`,
    `module: ${b.module.path}@${b.module.version}`,
    `go.sum hash: ${b.module.sum}`,
    `go: ${b.goVersion} ${b.platform}`,
    `built at: ${b.builtAt}`,
    b.binary ? `binary: ${join(r.dir, b.binary)}` : `image: ${b.image}`,
    `cache dir: ${r.dir}`,
  ].join('\n');
}

export const karpenterBuildStage: Stage = {
  name: 'karpenter-build',
  skipReason: (config) => (config.karpenterMode === 'existing' ? 'karpenter-mode existing builds nothing' : undefined),
  async run(ctx) {
    const { config } = ctx;
    const mode = config.karpenterMode;
    if (mode === 'existing') throw new StageFailure('karpenter-build does not apply to karpenter-mode existing');
    const go = await requireGo(ctx);
    let r: BuildResult;
    try {
      r = await buildKarpenter({
        go,
        ko: ctx.run.toolPaths.ko ?? which('ko'),
        karpenterVersion: config.karpenterVersion,
        mode,
        clusterName: config.clusterName,
        imageRepository: config.imageRepository,
        signal: ctx.signal,
        log: ctx.info,
        imagePresent: (b) => imagePresent(config, b, ctx.signal),
      });
    } catch (err) {
      throw new StageFailure(
        `Expected Karpenter ${config.karpenterVersion}'s KWOK provider to build (${mode} mode); ${(err as Error).message}`,
        'check the Go toolchain (Karpenter needs the go version in its go.mod) and that the Go module proxy is reachable',
      );
    }
    const b = r.build;
    ctx.run.versions.karpenter = b.module.version;
    ctx.run.versions['karpenter-module-sum'] = b.module.sum;
    ctx.run.toolPaths[BUILD_DIR_KEY] = r.dir;
    if (b.binary) ctx.run.toolPaths.karpenter = join(r.dir, b.binary);
    if (b.image) ctx.run.versions['karpenter-image'] = b.image;
    ctx.run.cache.push({ item: `${KARPENTER_TOOL}@${b.cacheVersion}`, hit: r.hit, ...(r.hit ? { savedMs: r.savedMs } : {}) });
    ctx.evidence({
      title: r.hit ? 'Karpenter build (cache hit)' : 'Karpenter build',
      command: `go mod download -json sigs.k8s.io/karpenter@${config.karpenterVersion}`,
      output: describeBuild(r),
    });
    return pass(
      r.hit
        ? `cache hit: Karpenter ${b.module.version} (${mode}) from the tool cache, ~${Math.round((r.savedMs ?? 0) / 1000)} s of build saved`
        : `Karpenter ${b.module.version} (${mode}) built in ${Math.round(b.buildMs / 1000)} s and cached`,
    );
  },
};

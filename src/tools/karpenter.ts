import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tc from '@actions/tool-cache';
import type { KarpenterMode } from '../types.js';
import { type ActionsCacheOptions, type Saved, actionsCacheKey, dirBytes, restoreToToolCache, saveFromToolCache, toolCacheDir } from './actions-cache.js';
import { ensureToolCacheEnv } from './cache-env.js';
import { run } from './exec.js';
import { type GoModule, downloadModule, goEnv } from './gomod.js';
import { semverOf } from './platform.js';

export const KARPENTER_MODULE = 'sigs.k8s.io/karpenter';
/** Tool-cache name of a build; also the binary's name (`go install` would call it `kwok`, like the kwok controller). */
export const KARPENTER_TOOL = 'karpenter-kwok';
export const KARPENTER_BINARY = 'karpenter-kwok';
const VERSION_VAR = 'sigs.k8s.io/karpenter/pkg/operator.Version';

/** What one build produced, kept as build.json next to it in the tool cache. */
export interface KarpenterBuild {
  karpenterVersion: string;
  mode: KarpenterMode;
  module: { path: string; version: string; sum: string };
  goVersion: string;
  platform: string;
  cacheVersion: string;
  /** What the image was built for: kind cluster or image repository (ko modes). */
  target?: string;
  builtAt: string;
  buildMs: number;
  /** Process mode: the binary's file name in the cache dir. */
  binary?: string;
  /** Its size: a truncated binary (a damaged cache entry) is rebuilt, not run. */
  binarySize?: number;
  /** ko modes: the reference ko printed, and its parts for Helm. */
  image?: string;
  imageParts?: ImageRef;
  /** kind mode: the image as an archive (file name in the cache dir), loaded into a cluster that lacks it. */
  imageArchive?: string;
  /** Its size: a truncated archive is rebuilt, not loaded. */
  imageArchiveSize?: number;
}

export interface BuildKey {
  karpenterVersion: string;
  mode: KarpenterMode;
  goVersion: string;
  goos: string;
  goarch: string;
  /** kind cluster name or image repository: a build for one target is no use to another. */
  target?: string;
}

/**
 * The tool-cache version of a build: semver (tc.find only finds semver), readable, and unique
 * per (karpenter version, mode, platform, Go version, target), e.g. 1.8.0-process.g3f2a9c1b0d4e.
 * The "g" keeps the identifier alphanumeric (semver forbids leading zeros in numeric ones).
 */
export function karpenterCacheVersion(key: BuildKey): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([key.karpenterVersion, key.mode, key.goos, key.goarch, key.goVersion, key.target ?? '']))
    .digest('hex')
    .slice(0, 12);
  return `${semverOf(key.karpenterVersion)}-${key.mode}.g${hash}`;
}

/** `go build` of the KWOK provider (run in the module's directory). */
export function goBuildArgs(karpenterVersion: string, out: string): string[] {
  return ['build', '-trimpath', '-ldflags', `-s -w -X ${VERSION_VAR}=${karpenterVersion}`, '-o', out, './kwok'];
}

export function goBuildEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // Static binary; no workspace file of the caller's may redirect the module's dependencies.
  return { ...base, CGO_ENABLED: '0', GOWORK: 'off', GOFLAGS: '-mod=readonly' };
}

/** `ko build` of the KWOK provider: -B names the image `<repo>/kwok`, as Karpenter's Makefile does. */
export function koBuildArgs(goarch: string): string[] {
  return ['build', '-B', `--platform=linux/${goarch}`, './kwok'];
}

/**
 * ko's environment: a static build of the module as it is, the version stamped, and where the
 * image goes (`target`: KO_DOCKER_REPO and what goes with it, which the install mode decides).
 */
export function koBuildEnv(base: NodeJS.ProcessEnv, karpenterVersion: string, target: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...base,
    CGO_ENABLED: '0',
    GOWORK: 'off',
    GOFLAGS: `-mod=readonly -ldflags=-X=${VERSION_VAR}=${karpenterVersion}`,
    ...target,
  };
}

export interface ImageRef {
  repository: string;
  tag?: string;
  digest?: string;
}

/** Splits "host:port/path/name:tag@sha256:..." (the port's colon is not a tag separator). */
export function parseImageRef(ref: string): ImageRef {
  const [name, digest] = ref.trim().split('@') as [string, string | undefined];
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  const hasTag = colon > slash;
  return {
    repository: hasTag ? name.slice(0, colon) : name,
    ...(hasTag ? { tag: name.slice(colon + 1) } : {}),
    ...(digest ? { digest } : {}),
  };
}

/** The CRDs Karpenter's KWOK provider needs: the chart's copies plus KWOKNodeClass from kwok/apis/crds. */
export function crdSources(moduleDir: string): string[] {
  const dirs = [join(moduleDir, 'kwok/charts/crds'), join(moduleDir, 'kwok/apis/crds')];
  const files = new Map<string, string>();
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.yaml') && !files.has(f)) files.set(f, join(dir, f));
  }
  return [...files.values()];
}

/** Copies a tree as plain writable files (module-cache files are read-only; symlinks are absent in module zips). */
export function copyTree(src: string, dst: string): void {
  mkdirSync(dst, { recursive: true });
  for (const entry of readdirSync(src, { withFileTypes: true })) {
    const from = join(src, entry.name);
    const to = join(dst, entry.name);
    if (entry.isDirectory()) copyTree(from, to);
    else if (entry.isFile()) writeFileSync(to, readFileSync(from), { mode: statSync(from).mode | 0o200 });
  }
}

export interface BuildOptions {
  go: string;
  ko?: string;
  karpenterVersion: string;
  mode: Exclude<KarpenterMode, 'existing'>;
  /** What the build is for (kind cluster, image repository): part of the cache key. */
  target?: string;
  /** ko modes: where the image goes (KO_DOCKER_REPO...). Without it, a go build of the binary. */
  koEnv?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  log: (message: string) => void;
  /**
   * Is a cached build's image where the cluster can run it (kind nodes, registry)? It may put it
   * there from the build's own archive (`dir`); false rebuilds.
   */
  imageReady?: (build: KarpenterBuild, dir: string) => Promise<boolean>;
  /** After a ko build, keeps the image as an archive in the build dir (kind mode); returns its file name. */
  keepImage?: (image: string, dir: string) => Promise<string>;
  /** The Actions cache, looked in after the tool cache and saved to after a build (cache input). */
  actionsCache?: ActionsCacheOptions;
}

export interface BuildResult {
  dir: string;
  build: KarpenterBuild;
  hit: boolean;
  /** On a hit: the recorded duration of the build it skipped (less the restore, from the Actions cache). */
  savedMs?: number;
  source: 'tool-cache' | 'actions-cache' | 'built';
  /** Size of the build's directory. */
  bytes?: number;
  /** Time the Actions-cache restore took (source actions-cache). */
  restoreMs?: number;
  /** Actions-cache key of the build, when the Actions cache is in use. */
  actionsCacheKey?: string;
  /** The save to the Actions cache after the build, when one was attempted. */
  actionsCacheSave?: Saved;
}

/** The tool-cache dir of a finished build (or undefined), and its record. */
export function findBuild(cacheVersion: string): { dir: string; build: KarpenterBuild } | undefined {
  const dir = tc.find(KARPENTER_TOOL, cacheVersion);
  const build = dir ? usableBuild(dir, cacheVersion) : undefined;
  return dir && build ? { dir, build } : undefined;
}

/**
 * The record of a build dir that holds everything it records (binary, CRDs, chart) for this key,
 * else undefined: an entry missing a part, or with a damaged or foreign build.json, is rebuilt, not trusted.
 */
export function usableBuild(dir: string, cacheVersion: string): KarpenterBuild | undefined {
  let build: KarpenterBuild;
  try {
    build = JSON.parse(readFileSync(join(dir, 'build.json'), 'utf8')) as KarpenterBuild;
  } catch {
    return undefined;
  }
  if (build.cacheVersion !== cacheVersion) return undefined;
  const parts = [build.binary, 'crds', build.image ? 'chart' : undefined, build.imageArchive].filter((p): p is string => !!p);
  if (!parts.every((p) => existsSync(join(dir, p)))) return undefined;
  const sized = (file: string | undefined, size: number | undefined) => !file || size === undefined || statSync(join(dir, file)).size === size;
  if (!sized(build.binary, build.binarySize) || !sized(build.imageArchive, build.imageArchiveSize)) return undefined;
  return build;
}

/**
 * Builds Karpenter's KWOK provider once per key and keeps it in the tool cache: the binary
 * (process mode) or the image reference (ko modes), with the CRDs and the chart from the same
 * module, so a warm run needs neither the module nor a build.
 */
export async function buildKarpenter(opts: BuildOptions): Promise<BuildResult> {
  ensureToolCacheEnv();
  const env = await goEnv(opts.go, opts.signal);
  const target = opts.target;
  const cacheVersion = karpenterCacheVersion({ karpenterVersion: opts.karpenterVersion, mode: opts.mode, ...env, target });

  const imageThere = async (build: KarpenterBuild, dir: string) => !opts.imageReady || !build.image || (await opts.imageReady(build, dir));
  const found = findBuild(cacheVersion);
  if (found) {
    if (await imageThere(found.build, found.dir)) {
      opts.log(`cache hit: ${KARPENTER_TOOL} ${cacheVersion} in ${found.dir}, build skipped (saves ~${Math.round(found.build.buildMs / 1000)} s)`);
      return { ...found, hit: true, savedMs: found.build.buildMs, source: 'tool-cache', bytes: dirBytes(found.dir) };
    }
    opts.log(`cached build ${cacheVersion} names image ${found.build.image}, which is no longer there: rebuilding`);
  }

  // Not in this runner's tool cache (a hosted runner's is empty every job): the Actions cache next,
  // restored into the tool cache so the rest of the job finds it there.
  const key = opts.actionsCache ? actionsCacheKey(KARPENTER_TOOL, cacheVersion, `${env.goos}/${env.goarch}`) : undefined;
  // The Actions cache holds this key already when its entry was restored but its image could not
  // be made ready (a registry that lost it; a kind build saved without its archive): no second save.
  let entryExists = false;
  if (!found && opts.actionsCache && key) {
    const r = await restoreToToolCache(
      `Karpenter build ${cacheVersion}`,
      toolCacheDir(KARPENTER_TOOL, cacheVersion),
      key,
      (dir) => usableBuild(dir, cacheVersion) !== undefined,
      opts.actionsCache,
    );
    const restored = r.status === 'hit' ? findBuild(cacheVersion) : undefined;
    if (restored) {
      if (await imageThere(restored.build, restored.dir)) {
        const savedMs = Math.max(0, restored.build.buildMs - r.ms);
        opts.log(
          `cache hit: ${KARPENTER_TOOL} ${cacheVersion} from the Actions cache in ${r.ms} ms, build skipped (the recorded build took ${restored.build.buildMs} ms)`,
        );
        return { ...restored, hit: true, savedMs, source: 'actions-cache', bytes: r.bytes, restoreMs: r.ms, actionsCacheKey: key };
      }
      opts.log(`the Actions cache's build ${cacheVersion} names image ${restored.build.image}, which is not there: rebuilding`);
      entryExists = true;
    }
  }

  const started = Date.now();
  opts.log(`go mod download ${KARPENTER_MODULE}@${opts.karpenterVersion}`);
  const mod: GoModule = await downloadModule(opts.go, KARPENTER_MODULE, opts.karpenterVersion, opts.signal);
  opts.log(`module ${mod.Path}@${mod.Version} ${mod.Sum} in ${mod.Dir}`);

  const base = process.env.RUNNER_TEMP || tmpdir();
  mkdirSync(base, { recursive: true });
  const staging = mkdtempSync(join(base, 'karpenter-build-'));
  try {
    mkdirSync(join(staging, 'crds'));
    for (const f of crdSources(mod.Dir)) writeFileSync(join(staging, 'crds', f.split('/').pop()!), readFileSync(f));
    const build: KarpenterBuild = {
      karpenterVersion: opts.karpenterVersion,
      mode: opts.mode,
      module: { path: mod.Path, version: mod.Version, sum: mod.Sum },
      goVersion: env.goVersion,
      platform: `${env.goos}/${env.goarch}`,
      cacheVersion,
      ...(target ? { target } : {}),
      builtAt: new Date().toISOString(),
      buildMs: 0,
    };
    if (!opts.koEnv) {
      opts.log(`go ${goBuildArgs(opts.karpenterVersion, KARPENTER_BINARY).join(' ')} (in ${mod.Dir})`);
      await run(opts.go, goBuildArgs(opts.karpenterVersion, join(staging, KARPENTER_BINARY)), {
        cwd: mod.Dir,
        env: goBuildEnv(process.env),
        signal: opts.signal,
      });
      build.binary = KARPENTER_BINARY;
      build.binarySize = statSync(join(staging, KARPENTER_BINARY)).size;
    } else {
      if (!opts.ko) throw new Error(`karpenter-mode ${opts.mode} needs ko (tools stage)`);
      copyTree(join(mod.Dir, 'kwok/charts'), join(staging, 'chart'));
      const koEnv = koBuildEnv(process.env, opts.karpenterVersion, opts.koEnv);
      opts.log(`KO_DOCKER_REPO=${koEnv.KO_DOCKER_REPO} ko ${koBuildArgs(env.goarch).join(' ')} (in ${mod.Dir})`);
      const { stdout } = await run(opts.ko, koBuildArgs(env.goarch), { cwd: mod.Dir, env: koEnv, signal: opts.signal, onLine: opts.log });
      const image = stdout.trim().split('\n').pop()!.trim();
      if (!image) throw new Error('ko build printed no image reference');
      build.image = image;
      build.imageParts = parseImageRef(image);
      if (opts.keepImage) {
        build.imageArchive = await opts.keepImage(image, staging);
        build.imageArchiveSize = statSync(join(staging, build.imageArchive)).size;
      }
    }
    build.buildMs = Date.now() - started;
    writeFileSync(join(staging, 'build.json'), JSON.stringify(build, null, 2));
    const dir = await tc.cacheDir(staging, KARPENTER_TOOL, cacheVersion);
    opts.log(`built in ${Math.round(build.buildMs / 1000)} s, cached as ${KARPENTER_TOOL} ${cacheVersion}`);
    // Saved once the build passed; a failed save costs a warning, never the run.
    const saved =
      opts.actionsCache && key && !entryExists
        ? await saveFromToolCache(`Karpenter build ${cacheVersion}`, dir, key, opts.actionsCache, `build it again (~${Math.round(build.buildMs / 1000)} s)`)
        : undefined;
    return {
      dir,
      build,
      hit: false,
      source: 'built',
      bytes: dirBytes(dir),
      ...(key && opts.actionsCache ? { actionsCacheKey: key } : {}),
      ...(saved ? { actionsCacheSave: saved } : {}),
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

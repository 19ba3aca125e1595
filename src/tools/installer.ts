import { accessSync, constants, copyFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runnerTemp } from '../paths.js';
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { type ActionsCacheOptions, type Saved, actionsCacheKey, dirBytes, restoreToToolCache, saveFromToolCache, toolCacheDir } from './actions-cache.js';
import { ensureToolCacheEnv } from './cache-env.js';
import type { ToolDescription } from './catalog.js';
import { checksumMismatchMessage, expectedChecksum, sha256File } from './checksums.js';
import { run } from './exec.js';
import { type Platform, detectPlatform, semverOf } from './platform.js';
import { which } from './which.js';

export interface InstallOptions {
  /** Base URL holding the release files in the official layout (air-gapped runners). */
  mirror?: string;
  platform?: Platform;
  /** Accept a binary already on PATH when it reports the requested version. */
  usePath?: boolean;
  log?: (message: string) => void;
  /** The Actions cache, looked in after the tool cache and saved to after a download (cache input). */
  actionsCache?: ActionsCacheOptions;
}

export interface InstalledTool {
  name: string;
  version: string;
  /** Directory put on PATH. */
  dir: string;
  binary: string;
  source: 'cache' | 'actions-cache' | 'path' | 'download';
  url?: string;
  sha256?: string;
  bytesDownloaded?: number;
  /** Size of the tool's directory (tool cache or Actions cache entry). */
  bytes?: number;
  /** How long getting it took (Actions-cache restore, or download and verification). */
  ms?: number;
  /** Actions-cache key of the tool, when the Actions cache is in use. */
  actionsCacheKey?: string;
  /** The save to the Actions cache after a download, when one was attempted. */
  actionsCacheSave?: Saved;
}

/** Where a tool's archive and checksum file are fetched from: the mirror, else the release host. */
export function releaseUrls(desc: ToolDescription, version: string, p: Platform, mirror?: string): { archive: string; checksums: string; file: string } {
  const base = (mirror ?? desc.officialBase).replace(/\/+$/, '');
  const archivePath = desc.archivePath(version, p);
  return {
    archive: `${base}/${archivePath}`,
    checksums: `${base}/${desc.checksumsPath(version, p)}`,
    file: archivePath.split('/').pop()!,
  };
}

const exe = (desc: ToolDescription, p: Platform) => (p.os === 'windows' ? `${desc.binary}.exe` : desc.binary);

/**
 * find -> (PATH) -> (Actions cache) -> download -> sha256 against the published checksums ->
 * extract -> cacheDir -> (save to the Actions cache) -> addPath. A tool-cache hit makes no network call. Verification is not optional: a mismatch throws
 * naming the file and both hashes, and nothing is cached.
 */
export async function installTool(desc: ToolDescription, requested: string, opts: InstallOptions = {}): Promise<InstalledTool> {
  const version = semverOf(requested);
  ensureToolCacheEnv();
  const p = opts.platform ?? detectPlatform();
  const log = opts.log ?? core.info;
  const done = (dir: string, source: InstalledTool['source'], extra: Partial<InstalledTool> = {}): InstalledTool => {
    core.addPath(dir);
    return { name: desc.name, version, dir, binary: join(dir, exe(desc, p)), source, ...extra };
  };

  const cached = tc.find(desc.name, version);
  if (cached) {
    log(`${desc.name} ${version}: cache hit in the tool cache (${cached}), no download`);
    return done(cached, 'cache', { bytes: dirBytesOrUndefined(cached), ms: 0 });
  }

  if (opts.usePath) {
    const onPath = await pathVersion(desc);
    if (onPath?.version === version) {
      log(`${desc.name} ${version}: using ${onPath.binary} from PATH (reports the requested version)`);
      return { name: desc.name, version, dir: onPath.dir, binary: onPath.binary, source: 'path' };
    }
  }

  // A hosted runner's tool cache is empty every job: the Actions cache is the next place looked in.
  const key = opts.actionsCache ? actionsCacheKey(desc.name, version, `${p.os}/${p.arch}`) : undefined;
  if (opts.actionsCache && key) {
    const r = await restoreToToolCache(
      `${desc.name} ${version}`,
      toolCacheDir(desc.name, version),
      key,
      (dir) => isExecutable(join(dir, exe(desc, p))),
      opts.actionsCache,
    );
    if (r.status === 'hit' && r.dir) return done(r.dir, 'actions-cache', { bytes: r.bytes, ms: r.ms, actionsCacheKey: key });
  }

  const urls = releaseUrls(desc, version, p, opts.mirror);
  log(`${desc.name} ${version}: downloading ${urls.archive}`);
  const started = Date.now();
  const sumsFile = await download(urls.checksums);
  const expected = expectedChecksum(readFileSync(sumsFile, 'utf8'), urls.file, urls.checksums);
  const archive = await download(urls.archive);
  const actual = await sha256File(archive);
  if (actual !== expected) throw new Error(checksumMismatchMessage(urls.file, expected, actual));
  log(`${desc.name} ${version}: sha256 ${actual} matches ${urls.checksums}`);

  const extracted = urls.file.endsWith('.zip') ? await tc.extractZip(archive) : await tc.extractTar(archive);
  const binDir = join(extracted, desc.binDir(p));
  accessSync(join(binDir, exe(desc, p)), constants.X_OK);
  const dir = await tc.cacheDir(binDir, desc.name, version);
  const ms = Date.now() - started;
  // Saved only once verified and in the tool cache; a failed save costs a warning, never the run.
  const saved = opts.actionsCache && key ? await saveFromToolCache(`${desc.name} ${version}`, dir, key, opts.actionsCache, 'download it again') : undefined;
  return done(dir, 'download', {
    url: urls.archive,
    sha256: actual,
    bytesDownloaded: statSync(archive).size + statSync(sumsFile).size,
    bytes: dirBytesOrUndefined(dir),
    ms,
    ...(key && opts.actionsCache ? { actionsCacheKey: key } : {}),
    ...(saved ? { actionsCacheSave: saved } : {}),
  });
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function dirBytesOrUndefined(dir: string): number | undefined {
  try {
    return dirBytes(dir);
  } catch {
    return undefined;
  }
}

async function download(url: string): Promise<string> {
  try {
    // A file:// mirror (a directory on the runner) is read in place of a download.
    if (url.startsWith('file:')) {
      const dest = join(mkdtempSync(join(runnerTemp(), 'tool-')), basename(url));
      copyFileSync(fileURLToPath(url), dest);
      return dest;
    }
    return await tc.downloadTool(url);
  } catch (err) {
    throw new Error(`download of ${url} failed: ${(err as Error).message}`, { cause: err });
  }
}

/** The tool on PATH and the version it reports, if any (a local call, no network). */
async function pathVersion(desc: ToolDescription): Promise<{ dir: string; binary: string; version?: string } | undefined> {
  const binary = which(desc.binary);
  if (!binary) return undefined;
  try {
    const { stdout, stderr } = await run(binary, desc.versionArgs);
    return { dir: dirname(binary), binary, version: desc.parseVersion(stdout + stderr) };
  } catch {
    return { dir: dirname(binary), binary };
  }
}

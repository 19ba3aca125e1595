// A loopback OCI registry (go-containerregistry's in-memory `registry`, from the bed's binaries)
// and a base image for ko made locally with crane: a real push and pull, no network beyond loopback.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { copyTree } from '../../src/tools/karpenter.js';
import { startMirror, type Mirror } from './mirror.js';

export interface Registry {
  /** host:port, e.g. localhost:40123 (ko and crane use plain http for localhost). */
  host: string;
  stop(): Promise<void>;
}

/** Starts `registry -port 0`; resolves when it says which port it serves on. */
export function startRegistry(binary: string): Promise<Registry> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(binary, ['-port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const stop = () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      const m = /serving on port (\d+)/.exec(err);
      if (m) resolve({ host: `localhost:${m[1]}`, stop });
    });
    child.once('exit', (code) => reject(new Error(`registry exited with ${code}: ${err}`)));
    child.once('error', reject);
  });
}

/**
 * Pushes a minimal linux/<arch> base image (one layer with /etc/passwd naming the nonroot user
 * the chart runs as) and returns its reference for KO_DEFAULTBASEIMAGE.
 */
export function pushBaseImage(crane: string, host: string, arch: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gac-base-'));
  const root = join(dir, 'root');
  execFileSync('mkdir', ['-p', join(root, 'etc')]);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n');
  execFileSync('tar', ['-cf', join(dir, 'layer.tar'), '-C', root, 'etc']);
  const ref = `${host}/base:latest`;
  execFileSync(crane, ['append', '--new_layer', join(dir, 'layer.tar'), '--new_tag', `${host}/base:unplatformed`, '--oci-empty-base']);
  execFileSync(crane, ['mutate', `${host}/base:unplatformed`, '--set-platform', `linux/${arch}`, '--tag', ref]);
  return ref;
}

/**
 * A loopback Helm chart repository (index.yaml + packaged charts), served by the release-mirror
 * server. Each chart is copied from a (read-only) module directory; `crds` adds CRD files the
 * module zip lost (symlinked crds/ directories are dropped from Go module zips).
 */
export async function startChartRepo(helm: string, charts: { dir: string; crds?: string[]; appVersion?: string }[]): Promise<Mirror> {
  const repo = await startMirror([], { os: 'linux', arch: 'amd64' });
  for (const c of charts) {
    const work = join(mkdtempSync(join(tmpdir(), 'gac-chart-')), basename(c.dir));
    copyTree(c.dir, work);
    if (c.crds?.length) {
      mkdirSync(join(work, 'crds'), { recursive: true });
      for (const f of c.crds) copyFileSync(f, join(work, 'crds', basename(f)));
    }
    // appVersion: the image tag the chart runs by default (the kwok module's chart names an older release than the module).
    execFileSync(helm, ['package', work, '--destination', repo.root, ...(c.appVersion ? ['--app-version', c.appVersion] : [])]);
  }
  execFileSync(helm, ['repo', 'index', repo.root, '--url', repo.url]);
  return repo;
}

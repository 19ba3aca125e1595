// Environment for tests of the install stages: the shared tool cache (Karpenter built once per
// machine), a private RUNNER_TEMP, Go on PATH, and the action root for the shipped manifests.
import { mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { which } from '../../src/tools/which.js';

export const ROOT = resolve(import.meta.dirname, '../..');

export function sharedToolCache(): string {
  return join(process.env.GAC_CACHE ?? join(homedir(), '.cache', 'gpu-autoscaling-conformance'), 'toolcache');
}

/** Sets RUNNER_TOOL_CACHE/RUNNER_TEMP/GAC_ACTION_ROOT and puts Go on PATH; returns the temp dir. */
export function installEnv(toolCache = sharedToolCache()): string {
  const temp = mkdtempSync(join(tmpdir(), 'gac-install-'));
  process.env.RUNNER_TOOL_CACHE = toolCache;
  process.env.RUNNER_TEMP = temp;
  process.env.GAC_ACTION_ROOT = ROOT;
  if (!which('go')) {
    const go = ['/usr/local/go/bin/go'].find((g) => which('go', { PATH: dirname(g) }));
    if (go) process.env.PATH = `${dirname(go)}${delimiter}${process.env.PATH}`;
  }
  return temp;
}

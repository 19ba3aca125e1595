import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * @actions/tool-cache needs RUNNER_TOOL_CACHE and RUNNER_TEMP, which only a runner sets. Outside
 * one (a local run of the bundle) they default to a per-user cache, so a second local run is a
 * cache hit too, and the OS temp dir. Returns the tool cache in use.
 */
export function ensureToolCacheEnv(env: NodeJS.ProcessEnv = process.env): string {
  env.RUNNER_TOOL_CACHE ||= join(env.GAC_CACHE || join(homedir(), '.cache', 'gpu-autoscaling-conformance'), 'toolcache');
  env.RUNNER_TEMP ||= tmpdir();
  return env.RUNNER_TOOL_CACHE;
}

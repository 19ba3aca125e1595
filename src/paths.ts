import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The action's root (where action.yml and manifests/ are). Computed at run time from the
 * script the runner started (dist/index.js), never from a literal path: ncc rewrites literal
 * paths it can resolve at build time (vercel/ncc#1199).
 */
export function actionRoot(env: NodeJS.ProcessEnv = process.env, argv1 = process.argv[1] ?? ''): string {
  if (env.GAC_ACTION_ROOT) return env.GAC_ACTION_ROOT;
  if (env.GITHUB_ACTION_PATH) return env.GITHUB_ACTION_PATH;
  const script = argv1 && fs.existsSync(argv1) ? fs.realpathSync(argv1) : '';
  if (script && path.basename(path.dirname(script)) === 'dist') return path.dirname(path.dirname(script));
  return process.cwd();
}

/** A file shipped with the action, e.g. manifests/nodepool.yaml. */
export function shipped(...parts: string[]): string {
  return path.join(actionRoot(), ...parts);
}

/** RUNNER_TEMP, or the OS temp dir outside a runner. */
export function runnerTemp(env: NodeJS.ProcessEnv = process.env): string {
  return env.RUNNER_TEMP || os.tmpdir();
}

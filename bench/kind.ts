// Entry point: `node bench/kind.ts [--poll-interval 10] [--skip-action] [--skip-shell] [--cold-gocache] [--no-docs] [--render]`.
// kind mode beside the shell-script way on the kind cluster (testbed/kind/up), and beside process
// mode (bench/results.json). Re-runs itself with the TypeScript transforms, as bench/run.ts does.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const here = import.meta.dirname;
if (!process.execArgv.includes('--experimental-transform-types')) {
  const hook = path.join(here, '..', 'testbed', 'lib', 'resolve-ts.mjs');
  const args = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', '--import', hook, import.meta.filename, ...process.argv.slice(2)];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const { main } = (await import('./lib/kind.js')) as typeof import('./lib/kind.js');
process.exitCode = await main();

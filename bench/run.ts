// Entry point: `node bench/run.ts [--runs 3] [--scales 4,32,128] [--skip-polling] ...`.
// The action's sources need TypeScript transforms (parameter properties) and `.js` -> `.ts`
// resolution, so the script re-runs itself once with both, then loads the bench.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const here = import.meta.dirname;
if (!process.execArgv.includes('--experimental-transform-types')) {
  const hook = path.join(here, '..', 'testbed', 'lib', 'resolve-ts.mjs');
  const args = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', '--import', hook, import.meta.filename, ...process.argv.slice(2)];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const { main } = (await import('./lib/main.js')) as typeof import('./lib/main.js');
process.exitCode = await main(path.relative(process.cwd(), import.meta.filename));

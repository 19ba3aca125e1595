// Ends exactly the processes a bed.json records, in reverse start order, and waits for each to exit.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Bed } from './bed.js';
import { GROUPS } from './components.js';
import { stopPid } from './proc.js';

/** Stops every recorded component still running; bed.json becomes bed.last.json (what check-down verifies). */
export async function stopAll(dir: string): Promise<string[]> {
  const file = join(dir, 'bed.json');
  if (!existsSync(file)) return [];
  const bed = JSON.parse(readFileSync(file, 'utf8')) as Bed;
  const known = GROUPS.flat() as string[];
  // components added later (by other tooling writing bed.json) stop first
  const order = [[...Object.keys(bed.components).filter((n) => !known.includes(n))], ...[...GROUPS].reverse()];
  const stopped: string[] = [];
  for (const group of order) {
    await Promise.all(
      group.map(async (n) => {
        const c = bed.components[n];
        if (!c?.pid) return;
        // a component that had already exited (crashed, or the machine rebooted) is not reported as stopped
        if (await stopPid(c.pid, c.cmd[0])) stopped.push(n);
      }),
    );
  }
  renameSync(file, join(dir, 'bed.last.json'));
  return stopped;
}

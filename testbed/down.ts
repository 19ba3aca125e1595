// testbed/down: ends the processes testbed/up recorded (and only those) and waits until they are gone.
import { bedDir } from './lib/bed.js';
import { stopAll } from './lib/stop.js';

const t0 = Date.now();
const dir = bedDir();
const stopped = await stopAll(dir);
if (stopped.length === 0) console.log(`test bed not running (${dir})`);
else console.log(`test bed down in ${((Date.now() - t0) / 1000).toFixed(1)}s: stopped ${stopped.join(', ')}`);

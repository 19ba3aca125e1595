// Runs the bundled action end to end against the running test bed, main then post, as a
// runner would, printing the staged log and where the evidence is. Extra inputs: name=value args.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runAction, makeRunnerDirs } from '../__tests__/support/harness.js';
import { loadBed } from '../testbed/lib/bed.js';

const bed = loadBed();
const cache = process.env.GAC_CACHE ?? path.join(process.env.HOME ?? '/tmp', '.cache', 'gpu-autoscaling-conformance');
const base = path.join(path.dirname(import.meta.dirname), '.tmp', 'run-local', new Date().toISOString().replace(/[:.]/g, '-'));
fs.mkdirSync(base, { recursive: true });
const extra = Object.fromEntries(process.argv.slice(2).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
const inputs = { kubeconfig: bed.kubeconfig, 'karpenter-mode': 'process', 'evidence-dir': path.join(base, 'evidence'), ...extra };

const r = await runAction({ inputs, toolCache: path.join(cache, 'toolcache'), dirs: makeRunnerDirs(base), echo: true });
console.log(`\nmain exited ${r.main.code}, post exited ${r.post.code}`);
console.log(`outputs: ${JSON.stringify(r.outputs, null, 2)}`);
console.log(`evidence: ${inputs['evidence-dir']}`);
console.log(`job summary: ${r.dirs.files.summary}`);
process.exitCode = r.main.code === 0 && r.post.code === 0 ? 0 : 1;

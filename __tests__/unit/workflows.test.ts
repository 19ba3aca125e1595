// Every workflow and example that uses this action passes only inputs action.yml declares, reads
// only outputs it declares, and (for literal values) values the action's own validation accepts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readConfig } from '../../src/inputs.js';

const root = path.resolve(import.meta.dirname, '../..');
process.env.GAC_ACTION_ROOT = root;
const env = { RUNNER_TEMP: fs.mkdtempSync(path.join(os.tmpdir(), 'workflows-')) };

const action = parse(fs.readFileSync(path.join(root, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown>; outputs: Record<string, unknown> };
const INPUTS = new Set(Object.keys(action.inputs));
const OUTPUTS = new Set(Object.keys(action.outputs));

/** `uses:` of this action: the local checkout (CI) or the published repository at a ref. */
export const isThisAction = (uses: string): boolean => uses === './' || /^[\w.-]+\/gpu-autoscaling-conformance@[\w.-]+$/.test(uses);

interface Step {
  id?: string;
  uses?: string;
  with?: Record<string, unknown>;
}
interface Job {
  steps?: Step[];
  strategy?: { matrix?: Record<string, unknown> };
}

const files = ['.github/workflows', 'examples'].flatMap((dir) =>
  fs
    .readdirSync(path.join(root, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => `${dir}/${f}`),
);

/** Inputs that name files of the user's repository or runner: not checkable here. */
const PATH_INPUTS = new Set(['kubeconfig', 'nodepool', 'instance-types', 'evidence-dir']);
const EXPR = /\$\{\{\s*([^}]*?)\s*\}\}/;

/**
 * The literal input sets a step can run with: values that are expressions are dropped, except
 * `${{ matrix.x }}` over a list, which expands into one set per value. Pure.
 */
export function literalInputs(withBlock: Record<string, unknown>, matrix: Record<string, unknown> = {}): Record<string, string>[] {
  let sets: Record<string, string>[] = [{}];
  for (const [name, value] of Object.entries(withBlock)) {
    if (PATH_INPUTS.has(name)) continue;
    const text = String(value);
    const expr = EXPR.exec(text)?.[1];
    if (expr === undefined) {
      sets = sets.map((s) => ({ ...s, [name]: text }));
      continue;
    }
    const m = /^matrix\.([\w-]+)$/.exec(expr);
    const values = m ? matrix[m[1]!] : undefined;
    if (Array.isArray(values) && text.trim() === `\${{ ${expr} }}`) sets = sets.flatMap((s) => values.map((v) => ({ ...s, [name]: String(v) })));
  }
  return sets;
}

describe('workflows and examples that use this action', () => {
  it('the set of files is what the project ships', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        '.github/workflows/ci.yml',
        '.github/workflows/check-dist.yml',
        '.github/workflows/release.yml',
        'examples/inference.yml',
        'examples/training.yml',
        'examples/existing-cluster.yml',
        'examples/pending-pods.yml',
      ]),
    );
  });

  it('third-party actions are pinned to a major tag (vN), local ones by path', () => {
    const loose = files.flatMap((file) =>
      [...fs.readFileSync(path.join(root, file), 'utf8').matchAll(/^\s*(?:-\s*)?uses:\s*(\S+)/gm)]
        .map((m) => m[1]!)
        .filter((u) => !u.startsWith('./') && !/^[\w.-]+\/[\w./-]+@v\d+$/.test(u))
        .map((u) => `${file}: ${u}`),
    );
    expect(loose).toEqual([]);
  });

  for (const file of files) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    const workflow = parse(text) as { jobs: Record<string, Job> };
    const steps = Object.values(workflow.jobs).flatMap((job) => (job.steps ?? []).filter((s) => s.uses && isThisAction(s.uses)).map((step) => ({ step, job })));

    if (file.startsWith('examples/') || file.endsWith('ci.yml')) {
      it(`${file} uses the action`, () => {
        expect(steps.length).toBeGreaterThan(0);
        if (file.startsWith('examples/')) for (const { step } of steps) expect(step.uses).toMatch(/@v1$/);
      });
    }

    for (const { step, job } of steps) {
      const label = `${file}: ${step.id ?? step.uses}`;
      it(`${label} passes only inputs declared in action.yml`, () => {
        const unknown = Object.keys(step.with ?? {}).filter((k) => !INPUTS.has(k));
        expect(unknown).toEqual([]);
      });

      it(`${label} passes literal values the action accepts`, () => {
        for (const inputs of literalInputs(step.with ?? {}, job.strategy?.matrix)) {
          const { errors } = readConfig((n) => inputs[n] ?? '', env);
          expect(errors, JSON.stringify(inputs)).toEqual([]);
        }
      });

      if (step.id) {
        it(`${label}: every steps.${step.id}.outputs.* read exists in action.yml`, () => {
          const read = [...text.matchAll(new RegExp(`steps\\.${step.id}\\.outputs\\.([\\w-]+)`, 'g'))].map((m) => m[1]!);
          expect(read.filter((o) => !OUTPUTS.has(o))).toEqual([]);
        });
      }
    }
  }
});

describe('literalInputs', () => {
  it('keeps literals, drops expressions and expands a matrix list', () => {
    const sets = literalInputs(
      { scenario: 'metric', 'cluster-name': '${{ env.CLUSTER }}', 'gpus-per-pod': '${{ matrix.gpus }}', nodepool: 'x.yaml' },
      { gpus: [1, 8] },
    );
    expect(sets).toEqual([
      { scenario: 'metric', 'gpus-per-pod': '1' },
      { scenario: 'metric', 'gpus-per-pod': '8' },
    ]);
  });

  it('recognises the published action and the local checkout only', () => {
    expect(isThisAction('./')).toBe(true);
    expect(isThisAction('gpu-autoscaling-conformance/gpu-autoscaling-conformance@v1')).toBe(true);
    expect(isThisAction('actions/checkout@v5')).toBe(false);
    expect(isThisAction('./.github/actions/gpu-metrics-stack')).toBe(false);
  });
});

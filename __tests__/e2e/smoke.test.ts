// The bundle as a runner runs it, on cases that need no cluster: bad inputs, and a cluster
// that cannot be reached. Both must fail clearly and still leave evidence and a clean post.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRunnerDirs, runAction } from '../support/harness.js';

const toolCache = fs.mkdtempSync(path.join(os.tmpdir(), 'toolcache-'));

describe('bundle smoke', () => {
  it('rejects bad inputs with every message at once and touches nothing', async () => {
    const r = await runAction({ inputs: { 'max-replicas': 'many', scenario: 'gpu', 'gpus-per-pod': '99', kubeconfig: '/nonexistent/kubeconfig' }, toolCache });
    expect(r.main.code).toBe(1);
    const errors = r.main.stdout.split('\n').filter((l) => l.startsWith('::error::') || l.startsWith('  - input'));
    expect(r.main.stdout).toContain('::error::inputs: 4 invalid input(s), nothing was changed in the cluster:');
    for (const msg of [
      'input "kubeconfig": /nonexistent/kubeconfig does not exist; accepted: a path to a kubeconfig file',
      'input "scenario": "gpu" is not supported; accepted: metric, pending-pods',
      'input "max-replicas": "many" is not an integer; accepted: an integer from 1 to 1000',
      'input "gpus-per-pod": 99 is out of range; accepted: an integer from 1 to 16',
    ]) {
      expect(r.main.stdout).toContain(msg);
    }
    expect(errors.length).toBeGreaterThan(0);
    expect(r.outputs).toMatchObject({ result: 'fail', 'failed-stage': 'inputs' });
    expect(r.post.code).toBe(0);
    expect(r.post.stdout).toContain('post: main rejected its inputs and changed nothing in the cluster: nothing to clean up');
  });

  it('fails in preflight against an unreachable cluster, with evidence, summary and a clean post', async () => {
    const dirs = makeRunnerDirs();
    const kubeconfig = path.join(dirs.workspace, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]\nusers: [{name: u, user: {token: unreachable-secret-token}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
    );
    const evidenceDir = path.join(dirs.temp, 'evidence');
    const r = await runAction({ inputs: { kubeconfig, 'evidence-dir': evidenceDir, timeouts: 'preflight=20s' }, toolCache, dirs });
    expect(r.main.code).toBe(1);
    expect(r.outputs).toMatchObject({ result: 'fail', 'failed-stage': 'preflight', 'evidence-dir': evidenceDir });
    expect(r.main.stdout).toMatch(/::error::preflight: .*127\.0\.0\.1:9/);
    const results = JSON.parse(fs.readFileSync(path.join(evidenceDir, 'results.json'), 'utf8')) as { stages: { name: string; status: string }[] };
    expect(results.stages.find((s) => s.name === 'preflight')!.status).toBe('fail');
    expect(results.stages.filter((s) => s.status === 'skip').map((s) => s.name)).toContain('provision');
    expect(fs.existsSync(path.join(evidenceDir, 'junit.xml'))).toBe(true);
    const ctrf = JSON.parse(fs.readFileSync(path.join(evidenceDir, 'ctrf.json'), 'utf8')) as {
      reportFormat: string;
      results: { summary: { tests: number; failed: number }; tests: { name: string; status: string }[] };
    };
    expect(ctrf.reportFormat).toBe('CTRF');
    expect(ctrf.results.tests.find((t) => t.name === 'preflight')!.status).toBe('failed');
    expect(ctrf.results.summary).toMatchObject({ tests: results.stages.length, failed: 1 });
    expect(r.summary).toContain('## GPU autoscaling conformance: FAIL');
    expect(r.summary).toContain('| preflight | ❌ fail |');
    // The token is registered for masking (the runner then hides it) and appears nowhere else.
    expect(r.main.stdout).toContain('::add-mask::unreachable-secret-token');
    const logged = r.main.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::'));
    expect(logged.join('\n')).not.toContain('unreachable-secret-token');
    for (const f of fs.readdirSync(evidenceDir)) expect(fs.readFileSync(path.join(evidenceDir, f), 'utf8')).not.toContain('unreachable-secret-token');
    expect(r.post.stdout).toContain('post: ');
  });
});

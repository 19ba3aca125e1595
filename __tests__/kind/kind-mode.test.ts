// karpenter-mode kind on a real kind cluster, through the bundle as a runner runs it (main, then
// post): ko builds Karpenter's KWOK provider into the node, Helm installs its chart and the KWOK
// controller's, Karpenter runs as a real pod, and the GPU metric chain (DCGM stand-in ->
// Prometheus -> prometheus-adapter, reachable from the cluster) drives the HPA through
// provision, schedule and consolidation. The inputs are the ones examples/inference.yml uses,
// with the loopback stand-ins of the release host, the chart repository and ko's base image.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { STAGE_NAMES } from '../../src/types.js';
import { lineOn } from '../support/faults.js';
import { makeRunnerDirs, parseCommandFile, runPost, startMain } from '../support/harness.js';
import { kindSnapshot, kindSuite } from '../support/kind-suite.js';
import { cancelLikeRunner } from '../support/runner-state.js';

/** The newest sigs.k8s.io/karpenter on the Go module proxy when this was written (go list -m -versions). */
const NEWEST_KARPENTER = 'v1.15.0';

const k = kindSuite();
const run = k.run.bind(k);

describe('karpenter-mode kind on a real kind cluster', () => {
  it('the whole chain passes with Karpenter running as a pod; cleanup and post leave the cluster as found', async () => {
    const r = await run({ 'min-replicas': '1', 'max-replicas': '3', 'metric-target': '10', consolidation: 'require' });
    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    for (const name of STAGE_NAMES) expect(r.results.stages.find((s) => s.name === name)?.status, name).toBe('pass');
    expect(r.results.outputs.podsScheduled).toBe(3);
    // Karpenter really ran: its pod was Ready on the kind node and its controllers started.
    const install = r.results.stages.find((s) => s.name === 'karpenter-install')!;
    const release = install.evidence.find((e) => e.title === 'Karpenter Helm release')!.output;
    expect(release).toContain(`Ready on node ${k.kind.nodeContainer}`);
    expect(release).toMatch(/reconciling: .*Starting workers/);
    expect(release).toContain('feature gates: staticCapacity=false');
    expect(release).toMatch(/KWOK controller: installed from /);
    // The nodes came from Karpenter in the pod: NodeClaims of this run's NodePool, GPU capacity.
    expect(r.results.outputs.nodesProvisioned).toBeGreaterThanOrEqual(1);
    expect(r.post.code).toBe(0);
    expect(await kindSnapshot(k.kube)).toEqual(k.before);
  });

  it('the n-plus-one scenario passes with Karpenter as a pod: baseline of 1 pinned and filled, N+1, back to exactly N, pins removed', async () => {
    const r = await run({ scenario: 'n-plus-one', 'baseline-nodes': '1', 'stability-window': '5s' });
    expect(r.main.code, r.main.stdout.slice(-3000)).toBe(0);
    expect(r.outputs.result).toBe('pass');
    for (const name of STAGE_NAMES)
      expect(r.results.stages.find((s) => s.name === name)?.status, name).toBe(['metric', 'hpa'].includes(name) ? 'skip' : 'pass');
    expect(r.results.scenario.baselineNodes).toBe(1);
    expect(r.results.stages.find((s) => s.name === 'schedule')!.message).toMatch(/^trigger Running on new node \S+ .*not a baseline node; N\+1 = 2 node\(s\)/);
    expect(r.results.stages.find((s) => s.name === 'consolidation')!.message).toContain('back to exactly');
    expect(r.post.code).toBe(0);
    // No node keeps a do-not-disrupt pin, and nothing of the run is left.
    const nodes = await k.kube.core.listNode();
    expect(nodes.items.filter((n) => n.metadata?.annotations?.['karpenter.sh/do-not-disrupt'])).toEqual([]);
    expect(await kindSnapshot(k.kube)).toEqual(k.before);
  });

  it('a chart value that makes Karpenter crash fails karpenter-install at once, with its log and restarts in the evidence', async () => {
    const values = path.join(makeRunnerDirs().temp, 'values.yaml');
    fs.writeFileSync(values, 'settings:\n  preferencePolicy: Sometimes\n');
    const r = await run({ 'karpenter-values': values, 'max-replicas': '2' });
    expect(r.main.code).toBe(1);
    expect(r.outputs['failed-stage']).toBe('karpenter-install');
    const install = r.results.stages.find((s) => s.name === 'karpenter-install')!;
    expect(install.message).toMatch(/^Expected Karpenter's pod to run; container controller of pod \S+ exited with code \d+/);
    const diagnostics = install.diagnostics.map((d) => `${d.title}\n${d.output}`).join('\n');
    expect(diagnostics).toContain('invalid PREFERENCE_POLICY "Sometimes"');
    expect(diagnostics).toMatch(/restarts \d+/);
    expect(diagnostics).toMatch(/Events of pod/);
    expect(r.post.code).toBe(0);
    expect(await kindSnapshot(k.kube)).toEqual(k.before);
  });

  it("a cancel during provision (the runner's SIGINT, SIGTERM, SIGKILL) leaves the cluster as found after post", async () => {
    const { run: a } = k.action({ 'max-replicas': '3', 'metric-target': '10' });
    const { step, dirs } = startMain(a);
    await lineOn(step, /::group::\[\d+\/\d+\] provision/);
    const sent = await cancelLikeRunner(step.child);
    const main = await step.done;
    expect(sent[0]).toBe('SIGINT');
    expect(main.code).not.toBe(0);
    const post = await runPost(a, dirs);
    expect(post.code, post.stdout.slice(-3000)).toBe(0);
    expect(parseCommandFile(fs.readFileSync(dirs.files.state, 'utf8')).run).toBeDefined();
    expect(await kindSnapshot(k.kube)).toEqual(k.before);
  });

  it(`the newest Karpenter the module proxy serves (${NEWEST_KARPENTER}) passes the chain too`, async () => {
    // Its go.mod asks for a newer Go than the machine's: Go fetches that toolchain from the module proxy, as setup-go would provide it.
    const r = await run({ 'karpenter-version': NEWEST_KARPENTER, 'max-replicas': '2', 'metric-target': '10' }, { GOTOOLCHAIN: 'auto' });
    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    const release = r.results.stages.find((s) => s.name === 'karpenter-install')!.evidence.find((e) => e.title === 'Karpenter Helm release')!.output;
    // Newer charts render more gates without defaults (CapacityBuffer): each gets a value.
    expect(release).toMatch(/feature gates: .*capacityBuffer=false/);
    expect(release).toMatch(/reconciling: .*Starting workers/);
    expect(await kindSnapshot(k.kube)).toEqual(k.before);
  });
});

// karpenter-mode kind with Helm 4 (helm-version v4.1.1, what GPU pipelines such as NVIDIA/aicr
// pin) on a real kind cluster, through the bundle as a runner runs it (main, then post): the tools
// stage installs Helm 4 from the loopback mirror in the official layout (get.helm.sh's archive and
// .sha256sum, the bed's helm4 binary inside), and Helm 4 installs the KWOK controller's charts and
// Karpenter's, then uninstalls them at cleanup. The same chain as kind-mode.test.ts's first test.
import { describe, expect, it } from 'vitest';
import { STAGE_NAMES } from '../../src/types.js';
import { bin } from '../../testbed/lib/bed.js';
import { kindSnapshot, kindSuite } from '../support/kind-suite.js';

/** The Helm 4 release GPU pipelines pin; the bed builds it as helm4 (testbed/versions.env HELM4_VERSION). */
const HELM4 = 'v4.1.1';

const k = kindSuite({ helm: (bed) => ({ version: HELM4, binary: bin(bed, 'helm4') }) });

describe(`karpenter-mode kind with Helm ${HELM4} on a real kind cluster`, () => {
  it('Helm 4 is installed checksum-verified from the mirror, installs the charts, and cleanup and post leave the cluster as found', async () => {
    expect(k.sources.inputs['helm-version']).toBe(HELM4);
    const r = await k.run({ 'min-replicas': '1', 'max-replicas': '3', 'metric-target': '10', consolidation: 'require' });
    const results = r.results;

    expect(r.main.code).toBe(0);
    expect(r.outputs.result).toBe('pass');
    for (const name of STAGE_NAMES) expect(results.stages.find((s) => s.name === name)?.status, name).toBe('pass');

    // The Helm that ran is 4.1.1, from the mirror's official layout with its .sha256sum verified
    // (or the shared tool cache a previous run of this test filled the same way).
    expect(results.versions.helm).toBe('4.1.1');
    const tools = results.stages.find((s) => s.name === 'tools')!.evidence.find((e) => e.title === 'Tools')!.output;
    expect(tools).toMatch(
      new RegExp(
        `^helm 4\\.1\\.1: (downloaded from ${k.sources.mirror.url}/helm-v4\\.1\\.1-linux-amd64\\.tar\\.gz, sha256 [0-9a-f]{64} verified|cache hit in the tool cache)`,
        'm',
      ),
    );
    // Helm 4 took every flag as given: no deprecation (e.g. a boolean --wait) and no flag error.
    expect(r.main.stdout).not.toMatch(/helm: .*(deprecated|unknown flag|invalid wait input)/i);

    // Helm 4 installed the KWOK controller and Karpenter, which really ran as a pod.
    const release = results.stages.find((s) => s.name === 'karpenter-install')!.evidence.find((e) => e.title === 'Karpenter Helm release')!.output;
    expect(release).toContain(`Ready on node ${k.kind.nodeContainer}`);
    expect(release).toMatch(/reconciling: .*Starting workers/);
    expect(release).toMatch(/KWOK controller: installed from /);
    expect(results.outputs.podsScheduled).toBe(3);
    expect(results.outputs.nodesProvisioned).toBeGreaterThanOrEqual(1);

    // Helm 4's uninstall (waiting, ignoring what is gone) left nothing: no release record, no workload.
    expect(r.post.code).toBe(0);
    expect(await kindSnapshot(k.kube)).toEqual(k.before);
  });
});

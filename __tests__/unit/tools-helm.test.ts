import { describe, expect, it } from 'vitest';
import { INPUT_DEFAULTS } from '../../src/defaults.js';
import { helmListArgs, helmMajor, helmUninstallArgs, helmUpgradeArgs, helmWaitArgs } from '../../src/tools/helm.js';

// Helm's command lines per major version. Checked against the real binaries' --help (Helm v3.19.5
// and v4.1.1, built by testbed/build as helm and helm4): every flag below exists in both with the
// same meaning, except --wait, which Helm 4 turned into a strategy.
describe('Helm major version', () => {
  it('reads the major of a release version, with or without v', () => {
    expect(helmMajor('v3.19.5')).toBe(3);
    expect(helmMajor('v4.1.1')).toBe(4);
    expect(helmMajor('4.0.0-rc.1')).toBe(4);
    expect(helmMajor(' v4.1.1 ')).toBe(4);
    expect(helmMajor('v10.0.0')).toBe(10);
    expect(helmMajor(INPUT_DEFAULTS['helm-version']!)).toBe(3);
  });
  it("falls back to Helm 3's command lines for what is not a version", () => {
    expect(helmMajor('')).toBe(3);
    expect(helmMajor('latest')).toBe(3);
  });
});

describe('--wait per major version', () => {
  it("Helm 3: the boolean --wait; Helm 4: --wait=legacy (Helm 3's polling; bare --wait would be the watcher)", () => {
    expect(helmWaitArgs()).toEqual(['--wait']);
    expect(helmWaitArgs(3)).toEqual(['--wait']);
    expect(helmWaitArgs(4)).toEqual(['--wait=legacy']);
    expect(helmWaitArgs(helmMajor('v4.1.1'))).toEqual(['--wait=legacy']);
    expect(helmWaitArgs(5)).toEqual(['--wait=legacy']);
  });

  const kwok = {
    release: 'kwok',
    chart: 'kwok',
    repo: 'http://127.0.0.1:1/charts/',
    namespace: 'kube-system',
    timeoutMs: 90_500,
    config: { kubeconfig: '/k' },
  };
  it('upgrade --install: the same line but for --wait, which stays one argument before --timeout', () => {
    const v3 = helmUpgradeArgs(kwok);
    const v4 = helmUpgradeArgs({ ...kwok, helmMajor: 4 });
    expect(v4).toEqual([
      'upgrade',
      '--install',
      'kwok',
      'kwok',
      '--repo',
      'http://127.0.0.1:1/charts/',
      '--namespace',
      'kube-system',
      '--create-namespace',
      '--wait=legacy',
      '--timeout',
      '90s',
      '--kubeconfig',
      '/k',
    ]);
    expect(v3).toEqual(v4.map((a) => (a === '--wait=legacy' ? '--wait' : a)));
    expect(helmUpgradeArgs({ ...kwok, helmMajor: 3 })).toEqual(v3);
  });
  it('upgrade --install without waiting has no --wait in either version', () => {
    for (const helmMajor of [3, 4]) {
      const args = helmUpgradeArgs({ ...kwok, wait: false, helmMajor });
      expect(args.filter((a) => a.startsWith('--wait'))).toEqual([]);
      expect(args).toContain('--timeout');
    }
  });
  it('uninstall: --wait in the form of the version, --ignore-not-found in both', () => {
    const r = { namespace: 'karpenter', name: 'karpenter' };
    expect(helmUninstallArgs(r, { context: 'kind-gpu' })).toEqual([
      'uninstall',
      'karpenter',
      '--namespace',
      'karpenter',
      '--wait',
      '--ignore-not-found',
      '--kube-context',
      'kind-gpu',
    ]);
    expect(helmUninstallArgs(r, { context: 'kind-gpu' }, 4)).toEqual([
      'uninstall',
      'karpenter',
      '--namespace',
      'karpenter',
      '--wait=legacy',
      '--ignore-not-found',
      '--kube-context',
      'kind-gpu',
    ]);
  });
  it('list: one release by exact name, short output (unchanged in Helm 4)', () => {
    expect(helmListArgs({ namespace: 'kube-system', name: 'karpenter' }, { kubeconfig: '/k', context: 'c' })).toEqual([
      'list',
      '--namespace',
      'kube-system',
      '--filter',
      '^karpenter$',
      '--short',
      '--kubeconfig',
      '/k',
      '--kube-context',
      'c',
    ]);
  });
});

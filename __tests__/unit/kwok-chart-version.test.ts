import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INPUT_DEFAULTS } from '../../src/defaults.js';
import { parseKwokChartVersion, readConfig } from '../../src/inputs.js';
import { helmUpgradeArgs, KWOK_CHARTS } from '../../src/tools/helm.js';

const root = path.resolve(import.meta.dirname, '../..');
process.env.GAC_ACTION_ROOT = root;
const env = { RUNNER_TEMP: fs.mkdtempSync(path.join(os.tmpdir(), 'kwok-chart-version-')) };
const read = (inputs: Record<string, string>) => readConfig((n) => inputs[n] ?? '', env);
const ACCEPTED =
  'accepted: a chart version such as 0.1.2 or v0.1.2 (the kwok chart), or chart=version pairs for kwok, stage-fast, e.g. kwok=0.1.2,stage-fast=0.1.1';

describe('kwok-chart-version', () => {
  it('pins every KWOK chart by default: the versions the kwok module the test bed uses ships', () => {
    const { config, errors } = read({});
    expect(errors).toEqual([]);
    expect(config!.kwokChartVersions).toEqual({ kwok: '0.1.2', 'stage-fast': '0.1.1' });
    expect(Object.keys(config!.kwokChartVersions).sort()).toEqual(KWOK_CHARTS.map((c) => c.chart).sort());
  });

  it('a bare version is the kwok chart; a leading v is dropped; the other chart keeps its pin', () => {
    expect(read({ 'karpenter-mode': 'kind', 'kwok-chart-version': 'v0.2.0' }).config!.kwokChartVersions).toEqual({ kwok: '0.2.0', 'stage-fast': '0.1.1' });
    expect(read({ 'karpenter-mode': 'kind', 'kwok-chart-version': '0.1.1' }).config!.kwokChartVersions).toEqual({ kwok: '0.1.1', 'stage-fast': '0.1.1' });
  });

  it('chart=version pairs pin each chart, spaces allowed, pre-releases too', () => {
    expect(parseKwokChartVersion('stage-fast=v0.2.0-rc.1')).toEqual({ ok: true, value: { kwok: '0.1.2', 'stage-fast': '0.2.0-rc.1' } });
    expect(parseKwokChartVersion(' kwok = 0.3.0 , stage-fast=0.3.1')).toEqual({ ok: true, value: { kwok: '0.3.0', 'stage-fast': '0.3.1' } });
  });

  it.each([
    [
      'a range',
      '>=0.1.0',
      `input "kwok-chart-version": ">=0.1.0" is not a chart version (">=0.1.0" is not one version: ranges and "latest" would not pin it); ${ACCEPTED}`,
    ],
    [
      'latest',
      'latest',
      `input "kwok-chart-version": "latest" is not a chart version ("latest" is not one version: ranges and "latest" would not pin it); ${ACCEPTED}`,
    ],
    [
      'two parts',
      '0.2',
      `input "kwok-chart-version": "0.2" is not a chart version ("0.2" is not one version: ranges and "latest" would not pin it); ${ACCEPTED}`,
    ],
    [
      'an unknown chart',
      'metrics-usage=0.1.1',
      `input "kwok-chart-version": "metrics-usage=0.1.1" names chart "metrics-usage", which the action does not install; ${ACCEPTED}`,
    ],
    ['a chart twice', '0.1.2,kwok=0.1.3', `input "kwok-chart-version": "0.1.2,kwok=0.1.3" gives chart kwok twice; ${ACCEPTED}`],
    [
      'an empty pair',
      'kwok=0.1.2,',
      `input "kwok-chart-version": "kwok=0.1.2," is not a chart version ("" is not one version: ranges and "latest" would not pin it); ${ACCEPTED}`,
    ],
  ])('rejects %s, naming the input and what is accepted', (_label, value, message) => {
    const r = read({ 'karpenter-mode': 'kind', 'kwok-chart-version': value });
    expect(r.config).toBeUndefined();
    expect(r.errors).toEqual([message]);
  });

  it('is passed to helm upgrade --install as --version', () => {
    const { config } = read({ 'karpenter-mode': 'kind', 'kwok-chart-version': 'v0.2.0' });
    const args = helmUpgradeArgs({
      release: 'kwok',
      chart: 'kwok',
      repo: config!.kwokChartRepository,
      version: config!.kwokChartVersions.kwok,
      namespace: 'kube-system',
      timeoutMs: 60_000,
      config: config!,
    });
    expect(args.slice(0, 8)).toEqual(['upgrade', '--install', 'kwok', 'kwok', '--repo', config!.kwokChartRepository, '--version', '0.2.0']);
  });

  it('warns when set where no KWOK chart is installed: kwok-install: skip, or a mode without Helm', () => {
    expect(read({ 'karpenter-mode': 'kind', 'kwok-install': 'skip', 'kwok-chart-version': '0.2.0' }).warnings).toEqual([
      'input "kwok-chart-version": has no effect with kwok-install: skip (no chart is installed); remove it, or set kwok-install: install',
    ]);
    expect(read({ 'karpenter-mode': 'process', 'kwok-chart-version': '0.2.0' }).warnings).toEqual([
      'input "kwok-chart-version": has no effect in karpenter-mode process: it pins the KWOK controller charts installed, used only in karpenter-mode kind or registry; remove it, or choose that mode',
    ]);
    expect(read({ 'karpenter-mode': 'existing', 'kwok-chart-version': '0.2.0' }).warnings).toEqual([
      expect.stringMatching(/^input "kwok-chart-version": has no effect in karpenter-mode existing/),
    ]);
    // Unset (the runner passes the default) or set where it is used: no warning.
    expect(read({ 'karpenter-mode': 'kind', 'kwok-install': 'skip', 'kwok-chart-version': INPUT_DEFAULTS['kwok-chart-version']! }).warnings).toEqual([]);
    expect(read({ 'karpenter-mode': 'kind', 'kwok-chart-version': '0.2.0' }).warnings).toEqual([]);
  });

  it('an invalid value gets its error, not also a warning', () => {
    const r = read({ 'karpenter-mode': 'process', 'kwok-chart-version': 'latest' });
    expect(r.errors).toEqual([expect.stringMatching(/^input "kwok-chart-version": "latest" is not a chart version/)]);
    expect(r.warnings).toEqual([]);
  });
});

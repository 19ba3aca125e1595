// Action inputs -> one validated Config. Every problem is collected and reported together,
// each naming the input, the value given and what is accepted; nothing here touches a cluster.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse, parseDocument } from 'yaml';
import { DEFAULT_STABILITY_WINDOW_MS, INPUT_DEFAULTS, STAGE_TIMEOUTS_MS } from './defaults.js';
import { CONSOLIDATION_MARGIN_MS, consolidationFeasibility, consolidationTimeoutMs, describeInfeasible } from './checks/consolidation.js';
import { formatDuration } from './format.js';
import { checkInstanceTypesFile, checkNodePoolFile } from './manifests.js';
import * as p from './parse.js';
import type { Parsed } from './parse.js';
import { runnerTemp, shipped } from './paths.js';
import { helmMajor, KWOK_CHARTS } from './tools/helm.js';
import { CONSOLIDATION_POLICIES, KARPENTER_MODES, SCENARIOS, STAGE_NAMES, type Config, type KarpenterMode, type Scenario, type StageName } from './types.js';

/** The largest N of the n-plus-one scenario. */
export const MAX_BASELINE_NODES = 32;

/** Stages that only make sense after the workload exists. */
const NEEDS_WORKLOAD: StageName[] = ['hpa', 'pending', 'provision', 'schedule', 'consolidation'];

export interface ConfigResult {
  config?: Config;
  errors: string[];
  /** Inputs that are valid but have no effect, or settings that make the run slow: for core.warning. */
  warnings: string[];
}

/** A run id from the workflow run, unique per job attempt; random outside Actions. */
export function defaultRunId(env: NodeJS.ProcessEnv = process.env): string {
  const suffix = randomBytes(3).toString('hex');
  return env.GITHUB_RUN_ID ? `${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT ?? '1'}-${suffix}` : `local-${suffix}`;
}

export function readConfig(getInput: (name: string) => string, env: NodeJS.ProcessEnv = process.env): ConfigResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const raw = (name: string): string => {
    const v = getInput(name);
    return v === undefined || v.trim() === '' ? (INPUT_DEFAULTS[name] ?? '') : v.trim();
  };
  const take = <T>(name: string, parsed: Parsed<T>, fallback: T): T => {
    if (parsed.ok) return parsed.value;
    errors.push(`input "${name}": ${parsed.problem}`);
    return fallback;
  };
  const optional = <T>(name: string, parse: (s: string) => Parsed<T>): T | undefined => {
    const v = raw(name);
    return v === '' ? undefined : take(name, parse(v), undefined);
  };

  // cluster
  const kubeconfig = optional('kubeconfig', (v) => p.ok(path.resolve(v)));
  const context = optional('context', (v) => p.ok(v));
  if (kubeconfig) {
    const problem = checkKubeconfig(kubeconfig, context);
    if (problem) errors.push(problem);
  }
  const clusterName = take('cluster-name', p.parseDnsLabel(raw('cluster-name')), 'kind');
  const namespacePrefix = take('namespace-prefix', p.parseDnsLabel(raw('namespace-prefix'), 40), 'gpu-conformance');
  const leaseNamespace = take('lease-namespace', p.parseDnsLabel(raw('lease-namespace')), 'default');
  const runId = take('run-id', p.parseDnsLabel(raw('run-id') || defaultRunId(env), 22), 'invalid');

  // install
  const karpenterMode = take('karpenter-mode', p.parseEnum(raw('karpenter-mode'), KARPENTER_MODES), 'process');
  const karpenterVersion = take('karpenter-version', p.parseVersion(raw('karpenter-version')), 'v1.8.0');
  if (/^v0\./.test(karpenterVersion)) {
    errors.push(`input "karpenter-version": ${karpenterVersion} predates the karpenter.sh/v1 APIs; accepted: v1.0.0 or later`);
  }
  const koVersion = take('ko-version', p.parseVersion(raw('ko-version')), '');
  const helmVersion = take('helm-version', p.parseVersion(raw('helm-version')), '');
  // The action's Helm command lines are written for Helm 3 and Helm 4 (src/tools/helm.ts).
  if (helmVersion && ![3, 4].includes(helmMajor(helmVersion))) {
    errors.push(`input "helm-version": ${helmVersion} is not a Helm 3 or Helm 4 release; accepted: v3.x.y or v4.x.y, such as v3.19.5 or v4.1.1`);
  }
  const kwokInstall = take('kwok-install', p.parseEnum(raw('kwok-install'), ['install', 'skip'] as const), 'install');
  const kwokChartRepository = take('kwok-chart-repository', p.parseUrl(raw('kwok-chart-repository'), ['https', 'http', 'oci']), '');
  const kwokChartVersions = take('kwok-chart-version', parseKwokChartVersion(raw('kwok-chart-version')), {});
  const imageRepository = optional('image-repository', p.parseImageRepository);
  if (karpenterMode === 'registry' && !raw('image-repository')) {
    errors.push('input "image-repository": is empty but karpenter-mode is registry; accepted: the repository ko pushes to, e.g. ghcr.io/org/karpenter-kwok');
  }
  const toolsMirror = optional('tools-mirror', (v) => p.parseUrl(v, ['https', 'http', 'file']));
  const keepInstalled = take('keep-installed', p.parseBoolean(raw('keep-installed')), false);
  if (keepInstalled && karpenterMode === 'process') {
    errors.push(
      'input "keep-installed": true is not possible with karpenter-mode process (the Karpenter process ends with the job); accepted: false, or karpenter-mode kind or registry',
    );
  }
  const karpenterNamespace = take('karpenter-namespace', p.parseDnsLabel(raw('karpenter-namespace')), 'kube-system');
  const karpenterValuesFile = raw('karpenter-values') ? path.resolve(raw('karpenter-values')) : undefined;
  const karpenterValues = karpenterValuesFile ? readChecked('karpenter-values', karpenterValuesFile, checkValuesFile, errors) : undefined;

  // scenario
  const scenario = take('scenario', p.parseEnum(raw('scenario'), SCENARIOS), 'metric');
  const metricName = take('metric-name', parseMetricName(raw('metric-name')), '');
  const metricTarget = take('metric-target', p.parseQuantity(raw('metric-target')), '1');
  const minReplicas = take('min-replicas', p.parseInteger(raw('min-replicas'), 1, 1000), 1);
  const maxReplicas = take('max-replicas', p.parseInteger(raw('max-replicas'), 1, 1000), 1);
  // pending-pods scales straight to max-replicas: min-replicas only matters to the HPA.
  if (scenario === 'metric' && minReplicas >= maxReplicas && errors.every((e) => !/"(min|max)-replicas"/.test(e))) {
    errors.push(
      `input "max-replicas": ${maxReplicas} is not above min-replicas ${minReplicas}; accepted: max-replicas greater than min-replicas, so the HPA has room to scale out`,
    );
  }
  const gpusPerPod = take('gpus-per-pod', p.parseInteger(raw('gpus-per-pod'), 1, 16), 1);
  // n-plus-one: N baseline nodes, each pinned and filled by one pod (a handful in a conformance run; the list of pinned nodes goes into the post step's state).
  const baselineNodes = take('baseline-nodes', p.parseInteger(raw('baseline-nodes'), 1, MAX_BASELINE_NODES), 1);
  const consolidation = take('consolidation', p.parseEnum(raw('consolidation'), CONSOLIDATION_POLICIES), 'require');
  const windowRaw = raw('stability-window');
  const stabilityWindowMs = windowRaw ? take('stability-window', p.parseWindow(windowRaw), 0) : (DEFAULT_STABILITY_WINDOW_MS[scenario] ?? 0);
  const requireRightSizing = take('require-right-sizing', p.parseBoolean(raw('require-right-sizing')), false);
  const cleanupStale = take('cleanup-stale', p.parseBoolean(raw('cleanup-stale')), false);
  const cache = take('cache', p.parseBoolean(raw('cache')), true);

  const nodePoolFile = raw('nodepool') ? path.resolve(raw('nodepool')) : shipped('manifests', 'nodepool.yaml');
  const nodePool = readChecked('nodepool', nodePoolFile, (t) => checkNodePoolFile(t, { anyNodeClass: karpenterMode === 'existing' }), errors);
  const instanceTypesFile = raw('instance-types') ? path.resolve(raw('instance-types')) : shipped('manifests', 'instance-types.json');
  const instanceTypes = readChecked('instance-types', instanceTypesFile, (t) => checkInstanceTypesFile(t, gpusPerPod), errors);

  const overrides = take('timeouts', p.parseDurationMap(raw('timeouts'), STAGE_NAMES), {});
  const timeouts = { ...STAGE_TIMEOUTS_MS, ...overrides };
  const stages = selectStages(raw('stages'), errors);
  // The windows are held inside provision and consolidation: their default budgets grow by it.
  for (const s of ['provision', 'consolidation'] as const) if (overrides[s] === undefined) timeouts[s] += stabilityWindowMs;
  // n-plus-one: the workload stage makes the baseline nodes (a provision of its own) and holds the window on them.
  if (scenario === 'n-plus-one' && overrides.workload === undefined) timeouts.workload = STAGE_TIMEOUTS_MS.provision + stabilityWindowMs;
  if (nodePool && consolidation !== 'skip' && stages.includes('consolidation')) {
    timeouts.consolidation = checkConsolidation(nodePoolFile, nodePool, consolidation, timeouts.consolidation, overrides.consolidation, errors, warnings);
  }

  // evidence
  const evidenceDir = raw('evidence-dir') ? path.resolve(raw('evidence-dir')) : path.join(runnerTemp(env), 'gpu-autoscaling-conformance', runId);
  const artifactName = take('artifact-name', parseArtifactName(raw('artifact-name')), '');
  const retentionDays = take('retention-days', p.parseInteger(raw('retention-days'), 0, 90), 0);
  const summary = take('summary', p.parseBoolean(raw('summary')), true);

  // An input with an error already has its message: no warning about it on top.
  const erred = (w: string) => errors.some((e) => e.startsWith(w.slice(0, w.indexOf(':'))));
  warnings.push(...ineffectiveInputs(raw, karpenterMode, scenario, kwokInstall).filter((w) => !erred(w)));

  if (errors.length || !nodePool || !instanceTypes) return { errors, warnings };
  return {
    errors,
    warnings,
    config: {
      kubeconfig,
      context,
      clusterName,
      namespacePrefix,
      leaseNamespace,
      runId,
      karpenterMode,
      karpenterVersion,
      koVersion,
      helmVersion,
      kwokInstall,
      kwokChartRepository,
      kwokChartVersions,
      karpenterNamespace,
      keepInstalled,
      ...(karpenterValues ? { karpenterValues, karpenterValuesFile } : {}),
      imageRepository,
      toolsMirror,
      cache,
      nodePoolFile,
      nodePool,
      instanceTypesFile,
      instanceTypes,
      scenario,
      metricName,
      metricTarget,
      minReplicas,
      maxReplicas,
      gpusPerPod,
      baselineNodes,
      consolidation,
      stabilityWindowMs,
      requireRightSizing,
      cleanupStale,
      timeouts,
      stages,
      evidenceDir,
      artifactName,
      retentionDays,
      summary,
    },
  };
}

/** For tests and scripts: a Config from a map of inputs, or an error listing every problem. */
export function configFrom(inputs: Record<string, string>, env: NodeJS.ProcessEnv = process.env): Config {
  const { config, errors } = readConfig((name) => inputs[name] ?? '', env);
  if (!config) throw new Error(`invalid inputs:\n${errors.join('\n')}`);
  return config;
}

const HELM_MODES: KarpenterMode[] = ['kind', 'registry'];

/**
 * Inputs that only some karpenter-modes or scenarios read, and what they are for. A value the
 * run will ignore is worth a warning: a user who set tools-mirror for an air-gapped runner must
 * learn that process mode downloads nothing through it, not find out from a silent run.
 */
export const INPUT_SCOPE: Record<string, { modes?: KarpenterMode[]; scenarios?: Scenario[]; what: string }> = {
  'cluster-name': { modes: ['kind'], what: 'names the kind cluster the image is side-loaded into' },
  'image-repository': { modes: ['registry'], what: 'is where ko pushes the image' },
  'ko-version': { modes: HELM_MODES, what: 'is the ko that builds the image' },
  'helm-version': { modes: HELM_MODES, what: 'is the Helm that installs the charts' },
  'tools-mirror': { modes: HELM_MODES, what: 'serves the ko and Helm downloads' },
  'kwok-install': { modes: HELM_MODES, what: 'installs the KWOK controller chart' },
  'kwok-chart-repository': { modes: HELM_MODES, what: 'serves the KWOK controller charts' },
  'kwok-chart-version': { modes: HELM_MODES, what: 'pins the KWOK controller charts installed' },
  'karpenter-namespace': { modes: HELM_MODES, what: 'is where the Karpenter chart is installed' },
  'karpenter-values': { modes: HELM_MODES, what: "is merged into the Karpenter chart's values" },
  'keep-installed': { modes: HELM_MODES, what: 'leaves what the run installed for later steps' },
  cache: { modes: ['kind', 'registry', 'process'], what: 'restores and saves ko, Helm and the Karpenter build in the Actions cache' },
  'karpenter-version': { modes: ['kind', 'registry', 'process'], what: 'is the Karpenter built and started (existing mode uses the installed one as found)' },
  'metric-name': { scenarios: ['metric'], what: 'is the metric the HPA scales on' },
  'metric-target': { scenarios: ['metric'], what: "is the HPA's target" },
  'min-replicas': { scenarios: ['metric'], what: "is the HPA's minReplicas (pending-pods scales straight to max-replicas)" },
  'max-replicas': {
    scenarios: ['metric', 'pending-pods'],
    what: "is the HPA's maxReplicas, or the replicas pending-pods scales to (n-plus-one's trigger is one pod)",
  },
  'baseline-nodes': { scenarios: ['n-plus-one'], what: 'is the N of the N -> N+1 -> N sequence' },
};

/** Warnings for inputs set to a value other than their default that the chosen mode or scenario never reads. Pure. */
export function ineffectiveInputs(value: (name: string) => string, mode: KarpenterMode, scenario: Scenario, kwokInstall: 'install' | 'skip'): string[] {
  const set = (name: string) => value(name) !== '' && value(name) !== (INPUT_DEFAULTS[name] ?? '');
  const warnings: string[] = [];
  for (const [name, scope] of Object.entries(INPUT_SCOPE)) {
    if (!set(name)) continue;
    if (scope.modes && !scope.modes.includes(mode)) {
      warnings.push(
        `input "${name}": has no effect in karpenter-mode ${mode}: it ${scope.what}, used only in karpenter-mode ${scope.modes.join(' or ')}; remove it, or choose that mode`,
      );
    } else if (scope.scenarios && !scope.scenarios.includes(scenario)) {
      warnings.push(
        `input "${name}": has no effect in scenario ${scenario}: it ${scope.what}, used only in scenario ${scope.scenarios.join(' or ')}; remove it, or choose that scenario`,
      );
    }
  }
  if (kwokInstall === 'skip' && set('kwok-chart-repository') && HELM_MODES.includes(mode)) {
    warnings.push(
      'input "kwok-chart-repository": has no effect with kwok-install: skip (nothing is installed from it); remove it, or set kwok-install: install',
    );
  }
  if (kwokInstall === 'skip' && set('kwok-chart-version') && HELM_MODES.includes(mode)) {
    warnings.push('input "kwok-chart-version": has no effect with kwok-install: skip (no chart is installed); remove it, or set kwok-install: install');
  }
  return warnings;
}

/**
 * A NodePool that can never consolidate fails a `require` run before it starts; one whose
 * consolidateAfter outlasts the stage timeout gets a longer one. Returns the stage's timeout.
 */
function checkConsolidation(
  file: string,
  pool: Config['nodePool'],
  policy: Config['consolidation'],
  timeoutMs: number,
  override: number | undefined,
  errors: string[],
  warnings: string[],
): number {
  const f = consolidationFeasibility(pool);
  if (f.kind === 'impossible') {
    if (policy === 'require') errors.push(`input "nodepool": ${p.shownPath(file)} ${describeInfeasible(f)}`);
    else warnings.push(`input "nodepool": ${p.shownPath(file)} ${f.setting}: ${f.reason}; the consolidation stage will warn that the nodes stay`);
    return timeoutMs;
  }
  const budget = consolidationTimeoutMs(timeoutMs, f);
  if (budget > timeoutMs && override !== undefined) {
    warnings.push(
      `input "timeouts": consolidation=${formatDuration(override)} is shorter than the NodePool's consolidateAfter (${formatDuration(f.consolidateAfterMs)}) plus ${formatDuration(CONSOLIDATION_MARGIN_MS)}; the stage gets ${formatDuration(budget)}`,
    );
  }
  return budget;
}

function selectStages(text: string, errors: string[]): StageName[] {
  if (!text) return [...STAGE_NAMES];
  const parsed = p.parseSubset(text, STAGE_NAMES);
  if (!parsed.ok) {
    errors.push(`input "stages": ${parsed.problem}`);
    return [...STAGE_NAMES];
  }
  const chosen = parsed.value;
  const orphans = chosen.filter((s) => NEEDS_WORKLOAD.includes(s));
  if (orphans.length && !chosen.includes('workload')) {
    errors.push(`input "stages": ${orphans.join(', ')} need the workload stage; accepted: add workload to the list`);
  }
  // Cleanup always runs: a run must leave the cluster as it found it.
  return chosen.includes('cleanup') ? chosen : [...chosen, 'cleanup'];
}

function parseMetricName(v: string): Parsed<string> {
  return /^[a-zA-Z_][a-zA-Z0-9_:.-]{0,252}$/.test(v)
    ? p.ok(v)
    : p.bad(`${p.shown(v)} is not a metric name; accepted: letters, digits, '_', ':', '.', '-', starting with a letter or '_'`);
}

/**
 * `kwok-chart-version`: the KWOK charts' versions, pinned, so a new chart release does not change
 * what a run installs. A bare version is the controller chart's (kwok); `chart=version` pairs name
 * each chart (KWOK_CHARTS), which version independently (kwok 0.1.2 with stage-fast 0.1.1). A chart
 * not named keeps its default. A leading v is dropped: chart versions are plain semver.
 */
export function parseKwokChartVersion(v: string): Parsed<Record<string, string>> {
  const charts: string[] = KWOK_CHARTS.map((c) => c.chart);
  const accepted = `a chart version such as 0.1.2 or v0.1.2 (the kwok chart), or chart=version pairs for ${charts.join(', ')}, e.g. kwok=0.1.2,stage-fast=0.1.1`;
  const pin = (text: string): Parsed<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const entry of text.split(',').map((e) => e.trim())) {
      // name=version, where name is a chart name (">=0.1.0" is a range, not a pair).
      const pair = /^\s*([a-z][a-z0-9-]*)\s*=(.*)$/.exec(entry);
      const [name, version]: [string, string] = pair ? [pair[1]!, pair[2]!.trim()] : ['kwok', entry];
      if (!charts.includes(name)) return p.bad(`${p.shown(v)} names chart ${p.shown(name)}, which the action does not install; accepted: ${accepted}`);
      if (!/^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(version)) {
        return p.bad(
          `${p.shown(v)} is not a chart version (${p.shown(version)} is not one version: ranges and "latest" would not pin it); accepted: ${accepted}`,
        );
      }
      if (out[name] !== undefined) return p.bad(`${p.shown(v)} gives chart ${name} twice; accepted: ${accepted}`);
      out[name] = version.replace(/^v/, '');
    }
    return p.ok(out);
  };
  const defaults = pin(INPUT_DEFAULTS['kwok-chart-version']!);
  const given = pin(v);
  return given.ok && defaults.ok ? p.ok({ ...defaults.value, ...given.value }) : given;
}

function parseArtifactName(v: string): Parsed<string> {
  return /^[^"<>:|*?\\/\r\n]{1,200}$/.test(v)
    ? p.ok(v)
    : p.bad(`${p.shown(v)} is not an artifact name; accepted: 1-200 characters without " < > : | * ? \\ / or line breaks`);
}

/** A Helm values file: a YAML mapping (the chart's own keys are not second-guessed here). */
function checkValuesFile(text: string): { value?: Record<string, unknown>; problems: string[] } {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    return { problems: [`is not valid YAML (${(e as Error).message.split('\n')[0]}); accepted: a Helm values file (a YAML mapping)`] };
  }
  if (doc === null || doc === undefined) return { value: {}, problems: [] };
  if (typeof doc !== 'object' || Array.isArray(doc)) return { problems: ['is not a YAML mapping; accepted: a Helm values file (a YAML mapping)'] };
  return { value: doc as Record<string, unknown>, problems: [] };
}

function readChecked<T>(input: string, file: string, check: (text: string) => { value?: T; problems: string[] }, errors: string[]): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    errors.push(`input "${input}": cannot read ${p.shownPath(file)} (${code ?? (e as Error).message}); accepted: a readable file path`);
    return undefined;
  }
  const { value, problems } = check(text);
  for (const problem of problems) errors.push(`input "${input}": ${p.shownPath(file)} ${problem}`);
  return value;
}

/** The kubeconfig file must be one and hold the context asked for; the cluster is not contacted. */
function checkKubeconfig(file: string, context: string | undefined): string | undefined {
  const where = p.shownPath(file);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `input "kubeconfig": ${where} does not exist; accepted: a path to a kubeconfig file`;
    return `input "kubeconfig": cannot read ${where} (${code ?? (e as Error).message}); accepted: a readable kubeconfig file`;
  }
  const notOne = notAKubeconfig(bytes);
  if (notOne)
    return `input "kubeconfig": ${where} is not a kubeconfig: ${notOne}; accepted: a kubeconfig file (kind: Config with clusters, users and contexts)`;
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (e) {
    return `input "kubeconfig": ${where} is not a valid kubeconfig (${(e as Error).message.split('\n')[0]}); accepted: a kubeconfig file`;
  }
  const contexts = kc.getContexts().map((c) => c.name);
  if (context && !contexts.includes(context)) {
    return `input "context": ${p.shown(context)} is not in ${where}; accepted: ${contexts.join(', ') || 'none: the file has no contexts'}`;
  }
  if (!context && !kc.getCurrentContext()) {
    return `input "kubeconfig": ${where} has no current-context; accepted: set the context input to one of ${contexts.join(', ') || '(none)'}`;
  }
  return undefined;
}

/**
 * Why a file is not a kubeconfig at all, or undefined when it may be one. Says what the file
 * is instead (binary, plain text, a list, another kind of object) without repeating any of its
 * content: the file may be /etc/shadow or a key. Before this, such a file parsed as an empty
 * kubeconfig and was reported as having "no current-context". Pure.
 */
export function notAKubeconfig(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return 'the file is empty';
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return 'it holds binary data, not text';
  }
  if (text.includes('\0')) return 'it holds binary data, not text';
  const doc = parseDocument(text);
  // Broken YAML is left to the kubeconfig loader, whose first error line names the position.
  if (doc.errors.length) return undefined;
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== 'object') return 'it is plain text, not a YAML mapping';
  if (Array.isArray(data)) return 'it is a YAML list, not a mapping';
  const o = data as Record<string, unknown>;
  if (typeof o.kind === 'string' && o.kind !== 'Config') return `it is a ${p.shown(o.kind)} object, not kind: Config`;
  if (!Array.isArray(o.clusters) && !Array.isArray(o.contexts)) return 'it is a YAML mapping without clusters or contexts';
  return undefined;
}

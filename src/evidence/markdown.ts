// Markdown views of the results: the CNCF-style evidence file and the job summary share these parts.
import { formatDuration } from '../format.js';
import { timelineOffsets, type Results } from './model.js';
import type { RequirementVerdict, StageRecord } from '../types.js';

const ICON: Record<StageRecord['status'], string> = { pass: '✅ pass', fail: '❌ fail', skip: '⏭️ skip' };
/** Table cells must stay on one line and not break the table. */
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
/** A table cell of at most `max` characters: the whole text stays in the evidence files. */
const short = (s: string, max = 180): string => (s.length > max ? `${s.slice(0, max - 1).trimEnd()}…` : s);
/** "05:26:36.790" of an ISO time: the table shows the date once, in its header. */
const clock = (iso: string): string => new Date(iso).toISOString().slice(11, 23);

export function stageTable(r: Results): string {
  const rows = r.stages.map(
    (s) =>
      `| ${s.name} | ${ICON[s.status]} | ${s.status === 'skip' ? '' : formatDuration(s.durationMs)} | ${(s.requirements ?? []).map((id) => `\`${id}\``).join(', ') || 'setup'} | ${cell(short(s.message))} |`,
  );
  return ['| Stage | Status | Duration | Evidence for | Result |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

export function timelineTable(r: Results): string {
  if (r.timeline.length === 0) return '_No cluster timeline was recorded._';
  const rows = timelineOffsets(r.timeline).map(({ entry, offsetMs }) => {
    const lag = entry.observedAt ? `${((Date.parse(entry.observedAt) - Date.parse(entry.at)) / 1000).toFixed(1)}s` : '';
    return `| +${(offsetMs / 1000).toFixed(1)}s | ${entry.event} | ${clock(entry.at)} | ${cell(entry.source)} | ${lag} |`;
  });
  const day = r.timeline[0] ? new Date(r.timeline[0].at).toISOString().slice(0, 10) : '';
  return [`| Offset | Event | Cluster time (${day}, UTC) | Source | Seen by the action after |`, '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

const FROM: Record<string, string> = {
  'tool-cache': 'tool cache',
  'actions-cache': 'Actions cache',
  built: 'built',
  downloaded: 'downloaded',
  path: 'PATH',
};

const mib = (bytes: number): string => (bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);

/** Where ko, Helm and the Karpenter build came from; empty when the run recorded no source (existing mode). */
export function cacheTable(r: Results): string {
  const rows = r.cache
    .filter((c) => c.source)
    .map((c) => {
      const save = c.actionsCache?.saved === undefined ? '' : c.actionsCache.saved ? `saved (${formatDuration(c.actionsCache.saveMs ?? 0)})` : 'not saved';
      return `| ${cell(c.item)} | ${FROM[c.source!] ?? c.source} | ${c.bytes === undefined ? '' : mib(c.bytes)} | ${c.ms === undefined ? '' : formatDuration(c.ms)} | ${c.savedMs ? formatDuration(c.savedMs) : ''} | ${save} |`;
    });
  if (rows.length === 0) return '';
  return ['| Item | From | Size | Time taken | Time saved | Actions cache |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/** A mermaid gantt of the stages that ran, on a shared clock (unix ms). */
export function stageGantt(r: Results): string {
  const ran = r.stages.filter((s) => s.status !== 'skip');
  if (ran.length === 0) return '';
  const lines = ran.map((s) => {
    const tag = s.status === 'fail' ? 'crit, ' : 'done, ';
    // Mermaid draws zero-length bars as nothing: give every bar at least 100 ms.
    const start = Date.parse(s.startedAt);
    const end = Math.max(Date.parse(s.finishedAt), start + 100);
    return `    ${s.name} (${formatDuration(s.durationMs)}) :${tag}${start}, ${end}`;
  });
  return ['```mermaid', 'gantt', '    title Stages', '    dateFormat x', '    axisFormat %M:%S', '    section Run', ...lines, '```'].join('\n');
}

/** The verdict in words: an inconclusive run says what it did not prove. */
function verdictText(r: Results): string {
  if (r.run.result === 'pass') return '✅ PASS';
  if (r.run.result === 'fail') return `❌ FAIL in stage \`${r.run.failedStage}\``;
  return '⚠️ INCONCLUSIVE: nothing failed, but the chain was not proven';
}

const REQUIREMENT_WORDS: Record<RequirementVerdict['result'], string> = { pass: 'PASS', fail: 'FAIL', 'not-checked': 'not checked' };

/** "`cluster_autoscaling`: PASS (scale-up only: ...)"; "`pod_autoscaling`: not checked (...)". */
export function requirementLines(r: Results): string[] {
  return (r.requirements ?? []).map((v) => `\`${v.id}\`: ${REQUIREMENT_WORDS[v.result]}${v.reason ? ` (${v.reason})` : ''}`);
}

function headline(r: Results): string {
  const verdict = verdictText(r);
  const s = r.scenario;
  const facts = [
    `**Result:** ${verdict} (${formatDuration(r.run.durationMs)})`,
    `**Scenario:** ${s.name}${s.metricName ? ` (metric \`${s.metricName}\`, target ${s.metricTarget})` : ''}; replicas ${s.minReplicas}-${s.maxReplicas}, ${s.gpusPerPod} GPU(s) per pod`,
    `**Karpenter:** ${s.karpenterVersion}, mode ${s.karpenterMode}; NodePool \`${s.nodePool}\`${s.gpuLimit === null ? '' : ` (nvidia.com/gpu limit ${s.gpuLimit})`}`,
    `**Outcome:** ${r.outputs.hpaDesiredReplicas ?? '-'} desired replicas, ${r.outputs.nodesProvisioned ?? '-'} GPU nodes provisioned, ${r.outputs.podsScheduled ?? '-'} pods scheduled`,
  ];
  return facts.join('  \n');
}

/** The job summary: verdict, stage table, gantt, cluster timeline. */
export function renderSummary(r: Results): string {
  const failed = r.stages.find((s) => s.status === 'fail');
  return [
    `## GPU autoscaling conformance: ${r.run.result.toUpperCase()}`,
    headline(r),
    failed ? `> [!CAUTION]\n> **${failed.name}:** ${cell(failed.message)}` : '',
    r.run.result === 'inconclusive'
      ? `> [!WARNING]\n> **Not proven:** ${cell(r.run.unproven)}. Nothing failed, and nothing is claimed: run these stages to prove the chain.`
      : '',
    requirementLines(r)
      .map((l) => `- ${l}`)
      .join('\n'),
    '### Stages',
    stageTable(r),
    stageGantt(r),
    cacheTable(r) ? `### Tools and build\n\n${cacheTable(r)}` : '',
    '### Cluster timeline',
    "Times are the cluster's own (object timestamps and condition transitions).",
    timelineTable(r),
    `<sub>Run \`${r.run.id}\` · namespace \`${r.run.namespace}\` · evidence schema ${r.schemaVersion}</sub>`,
  ]
    .filter(Boolean)
    .join('\n\n');
}

function itemBlock(item: { title: string; command?: string; output?: string; files?: string[] }): string {
  const parts = [`#### ${item.title}`];
  if (item.command || item.output) {
    parts.push(['```', item.command ? `$ ${item.command}` : '', item.output?.trimEnd() ?? '', '```'].filter((l) => l !== '').join('\n'));
  }
  if (item.files?.length) parts.push(`Files: ${item.files.map((f) => `[${f}](${f})`).join(', ')}`);
  return parts.join('\n\n');
}

/** Why the version is missing: a run that never reached the API says so instead of "unknown". */
const kubernetesUnknown = (r: Results): string =>
  r.stages.find((s) => s.name === 'preflight')?.status === 'pass' ? 'unknown' : 'not contacted (preflight did not pass)';

/** cluster-autoscaling.md in the CNCF AI conformance evidence style. */
export function renderEvidenceMarkdown(r: Results, generatedAt: string): string {
  const sections = r.stages.map((s) => {
    const body = [`### ${s.name}: ${s.status.toUpperCase()}`, s.message];
    body.push(...s.evidence.map(itemBlock));
    if (s.diagnostics.length) body.push('**Diagnostics**', ...s.diagnostics.map(itemBlock));
    return body.join('\n\n');
  });
  return [
    `# Cluster autoscaling evidence`,
    `Generated ${generatedAt} by ${r.tool.name} ${r.tool.version}.`,
    [
      `- **Requirement:** \`${r.requirement.id}\`${r.requirement.also.length ? ` (the scenario also tests \`${r.requirement.also.join('`, `')}\`: see the verdict per requirement)` : ''}`,
      `- **Result:** ${r.run.result.toUpperCase()}${r.run.result === 'inconclusive' ? ` (not proven: ${r.run.unproven})` : ''}`,
      '- **Per requirement:**',
      ...requirementLines(r).map((l) => `  - ${l}`),
      `- **Kubernetes:** ${r.cluster.kubernetesVersion ?? kubernetesUnknown(r)}`,
    ].join('\n'),
    headline(r),
    '## Stages',
    stageTable(r),
    ...(cacheTable(r) ? ['## Tools and build', cacheTable(r)] : []),
    '## Timeline',
    timelineTable(r),
    '## Checks',
    ...sections,
    '',
  ].join('\n\n');
}

// junit.xml: one testsuite, one testcase per stage; failures and skips as junit reporters expect.
import type { Results } from './model.js';

const escapeXml = (s: string): string =>
  s
    .replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
    // XML 1.0 forbids most control characters, even escaped.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

export function renderJunit(r: Results): string {
  const failures = r.stages.filter((s) => s.status === 'fail').length;
  const skipped = r.stages.filter((s) => s.status === 'skip').length;
  const suite = `gpu-autoscaling-conformance.${r.requirement.id}`;
  const cases = r.stages.map((s) => {
    // The class names the requirement the stage is evidence for (the first: workload serves both;
    // all of them are in its properties), so a submission can cite the case as is.
    const serves = s.requirements ?? [];
    const open = `    <testcase classname="gpu-autoscaling-conformance.${serves[0] ?? 'setup'}" name="${escapeXml(s.name)}" time="${seconds(s.durationMs)}"`;
    const props = serves.length
      ? `\n      <properties>\n${serves.map((id) => `        <property name="requirement" value="${id}"/>`).join('\n')}\n      </properties>`
      : '';
    if (s.status === 'pass') return `${open}>${props}\n      <system-out>${escapeXml(s.message)}</system-out>\n    </testcase>`;
    if (s.status === 'skip') return `${open}>${props}\n      <skipped message="${escapeXml(s.message)}"/>\n    </testcase>`;
    const detail = s.diagnostics.map((d) => `${d.title}${d.command ? `\n$ ${d.command}` : ''}${d.output ? `\n${d.output}` : ''}`).join('\n\n');
    return `${open}>${props}\n      <failure message="${escapeXml(s.message)}" type="StageFailure">${escapeXml(detail)}</failure>\n    </testcase>`;
  });
  // The run's verdict and what it claims per requirement: a reporter that only counts testcases
  // would show a run whose proving stages were not selected as all green.
  const properties = [
    ['result', r.run.result],
    ...(r.run.unproven ? [['unproven', r.run.unproven]] : []),
    ...(r.requirements ?? []).map((v) => [v.id, `${v.result}${v.reason ? ` (${v.reason})` : ''}`]),
  ].map(([name, value]) => `      <property name="${escapeXml(name!)}" value="${escapeXml(value!)}"/>`);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="gpu-autoscaling-conformance" tests="${r.stages.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(r.run.durationMs)}">`,
    `  <testsuite name="${escapeXml(suite)}" tests="${r.stages.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(r.run.durationMs)}" timestamp="${r.run.startedAt}">`,
    '    <properties>',
    ...properties,
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

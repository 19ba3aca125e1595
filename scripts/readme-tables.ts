// Renders the README's inputs and outputs tables from action.yml.
// `node scripts/readme-tables.ts` rewrites them in place; a unit test checks they are in step.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

interface ActionYml {
  inputs: Record<string, { description: string; default?: string; required?: boolean }>;
  outputs: Record<string, { description: string }>;
}

const cell = (s: string) =>
  s
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ')
    .trim();

export function renderTables(actionYml: string): { inputs: string; outputs: string } {
  const action = parse(actionYml) as ActionYml;
  const inputs = [
    '| Input | Default | Description |',
    '| --- | --- | --- |',
    ...Object.entries(action.inputs).map(([name, i]) => `| \`${name}\` | ${i.default ? `\`${cell(i.default)}\`` : ''} | ${cell(i.description)} |`),
  ].join('\n');
  const outputs = [
    '| Output | Description |',
    '| --- | --- |',
    ...Object.entries(action.outputs).map(([name, o]) => `| \`${name}\` | ${cell(o.description)} |`),
  ].join('\n');
  return { inputs, outputs };
}

/** Replaces the text between <!-- NAME:start --> and <!-- NAME:end --> markers. */
export function replaceBetween(doc: string, name: string, body: string): string {
  const re = new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!re.test(doc)) throw new Error(`README has no ${name} markers`);
  return doc.replace(re, (_m, a: string, b: string) => `${a}\n${body}\n${b}`);
}

export function renderReadme(readme: string, actionYml: string): string {
  const { inputs, outputs } = renderTables(actionYml);
  return replaceBetween(replaceBetween(readme, 'inputs', inputs), 'outputs', outputs);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const root = path.resolve(import.meta.dirname, '..');
  const readmePath = path.join(root, 'README.md');
  fs.writeFileSync(readmePath, renderReadme(fs.readFileSync(readmePath, 'utf8'), fs.readFileSync(path.join(root, 'action.yml'), 'utf8')));
}

// Writes the evidence files into the evidence dir and lists what is there for the artifact.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { redact } from '../secrets.js';
import { renderCtrf } from './ctrf.js';
import { renderJunit } from './junit.js';
import { renderEvidenceMarkdown } from './markdown.js';
import type { Results } from './model.js';

export const EVIDENCE_FILES = { results: 'results.json', junit: 'junit.xml', ctrf: 'ctrf.json', markdown: 'cluster-autoscaling.md' } as const;

export function writeEvidence(dir: string, results: Results, secrets: readonly string[] = [], now = new Date()): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), redact(text, secrets));
  write(EVIDENCE_FILES.results, `${JSON.stringify(results, null, 2)}\n`);
  write(EVIDENCE_FILES.junit, renderJunit(results));
  write(EVIDENCE_FILES.ctrf, `${JSON.stringify(renderCtrf(results, now.toISOString()), null, 2)}\n`);
  write(EVIDENCE_FILES.markdown, renderEvidenceMarkdown(results, now.toISOString()));
  // Component logs written by stages are scrubbed too: a log may echo a token.
  const files = listFiles(dir);
  for (const file of files) {
    if (/\.(log|txt|yaml|json)$/.test(file) && !Object.values(EVIDENCE_FILES).includes(path.basename(file) as never)) {
      const text = fs.readFileSync(file, 'utf8');
      const clean = redact(text, secrets);
      if (clean !== text) fs.writeFileSync(file, clean);
    }
  }
  return files;
}

export function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

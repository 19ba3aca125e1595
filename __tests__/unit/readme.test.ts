import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReadme } from '../../scripts/readme-tables.js';
import { VERSION } from '../../src/version.js';

const root = path.resolve(import.meta.dirname, '../..');
const read = (f: string) => fs.readFileSync(path.join(root, f), 'utf8');

describe('README', () => {
  it('has the inputs and outputs tables of action.yml (run `node scripts/readme-tables.ts` to update)', () => {
    const readme = read('README.md');
    expect(readme).toBe(renderReadme(readme, read('action.yml')));
  });
  it('names the two commands', () => {
    expect(read('README.md')).toContain('scripts/run-local.sh');
    expect(read('README.md')).toContain('scripts/test.sh');
  });
});

describe('version', () => {
  it('src/version.ts matches package.json', () => {
    expect(VERSION).toBe((JSON.parse(read('package.json')) as { version: string }).version);
  });
});

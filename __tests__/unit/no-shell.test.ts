// The no-shell rule: no process is started from a shell command string (inputs could inject
// commands). Two guards, each shown to bite: a scan of src/ for the ways Node runs a shell, and
// the eslint rules of eslint.config.js, run on planted violations.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/harness.js';

/** Ways to get a shell in Node: exec/execSync, shell: <anything but false>, sh/bash -c, @actions/exec's command line. */
const SHELL_PATTERNS: { name: string; re: RegExp }[] = [
  { name: 'exec(', re: /(?<![\w.])exec\s*\(|\.exec\s*\(\s*[`'"]/ },
  { name: 'execSync', re: /\bexecSync\b/ },
  { name: 'child_process namespace exec', re: /\b(?:cp|child_process|childProcess)\.exec\s*\(/ },
  { name: 'shell option', re: /\bshell\s*:(?!\s*false\b)/ },
  { name: 'sh -c', re: /['"`](?:\/bin\/)?(?:ba|z|da)?sh['"`]\s*,\s*\[\s*['"`]-c['"`]/ },
  { name: '@actions/exec', re: /from\s+['"]@actions\/exec['"]/ },
];

/** Lines of a source file that match a shell pattern (comments skipped). Pure. */
function shellUses(text: string): string[] {
  const hits: string[] = [];
  text.split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
    for (const p of SHELL_PATTERNS) if (p.re.test(code)) hits.push(`${i + 1}: ${p.name}: ${line.trim()}`);
  });
  return hits;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.(ts|mts|js|mjs)$/.test(e.name) ? [p] : [];
  });
}

const PLANTED = {
  'exec from node:child_process': "import { exec } from 'node:child_process';\nexport const f = (x: string) => exec(`helm install ${x}`);\n",
  'execSync from child_process': "import { execSync } from 'child_process';\nexport const f = (x: string) => execSync('kubectl get ' + x);\n",
  'shell: true': "import { spawn } from 'node:child_process';\nexport const f = (x: string) => spawn(x, { shell: true });\n",
  'cp.exec': "import * as cp from 'node:child_process';\nexport const f = (x: string) => cp.exec(x);\n",
};

describe('no shell command strings', () => {
  it('src/ starts no process through a shell', () => {
    const files = sources(path.join(ROOT, 'src'));
    expect(files.length).toBeGreaterThan(20);
    const found = files.flatMap((f) => shellUses(fs.readFileSync(f, 'utf8')).map((h) => `${path.relative(ROOT, f)}:${h}`));
    expect(found).toEqual([]);
  });

  it('the scan finds each planted use', () => {
    for (const code of [
      ...Object.values(PLANTED),
      "spawn('sh', ['-c', cmd])",
      "spawn(x, [], { shell: '/bin/bash' })",
      "import { exec } from '@actions/exec';",
    ]) {
      expect(shellUses(code), code).not.toEqual([]);
    }
    expect(shellUses("spawn(file, args, { shell: false, stdio: 'pipe' });\nconst m = /x/.exec(s);\nregex.exec(text);")).toEqual([]);
  });

  it('eslint (eslint.config.js) rejects each planted violation and accepts an argument array', async () => {
    const eslint = new ESLint({ cwd: ROOT });
    const lint = async (code: string) => {
      const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, 'src', 'planted-violation.ts') });
      return result!.messages.filter((m) => ['no-restricted-imports', 'no-restricted-syntax'].includes(m.ruleId ?? '')).map((m) => m.message);
    };
    for (const [name, code] of Object.entries(PLANTED)) {
      const messages = await lint(code);
      expect(messages, name).not.toEqual([]);
      expect(messages.join('\n'), name).toMatch(/argument array|shell string/);
    }
    expect(await lint("import { spawn } from 'node:child_process';\nexport const f = (x: string) => spawn('helm', ['install', x]);\n")).toEqual([]);
  });
});

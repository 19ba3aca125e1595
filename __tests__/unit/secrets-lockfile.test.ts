// Dependencies are pinned by the lockfile: every installed package has an exact version and an
// integrity hash npm checks on install, and every dependency of package.json is locked.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/harness.js';

interface LockEntry {
  version?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
}
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, LockEntry> };
const installed = Object.entries(lock.packages).filter(([p, e]) => p !== '' && !e.link);

describe('lockfile', () => {
  it('is a v3 lockfile locking every dependency of package.json', () => {
    expect(lock.lockfileVersion).toBe(3);
    for (const name of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)]) {
      expect(lock.packages[`node_modules/${name}`]?.version, name).toMatch(/^\d+\.\d+\.\d+/);
    }
  });

  it('pins every installed package to an exact version with a sha512 integrity hash', () => {
    expect(installed.length).toBeGreaterThan(50);
    const loose = installed.filter(([, e]) => !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(e.version ?? '') || !/^sha512-/.test(e.integrity ?? ''));
    expect(loose.map(([p, e]) => `${p}@${e.version} ${e.integrity ?? 'no integrity'}`)).toEqual([]);
  });

  it('runtime dependencies (what the bundle contains) are not dev-only entries', () => {
    for (const name of Object.keys(pkg.dependencies)) expect(lock.packages[`node_modules/${name}`]?.dev, name).toBeFalsy();
  });
});

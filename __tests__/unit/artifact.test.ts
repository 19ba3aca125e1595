import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadEvidence } from '../../src/evidence/artifact.js';
import { sha256, startResultsService, type ResultsService } from '../support/results-service.js';

describe('artifact upload through the real @actions/artifact client', () => {
  let service: ResultsService;
  let dir: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    service = await startResultsService();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evidence-'));
    fs.writeFileSync(path.join(dir, 'results.json'), '{"schemaVersion":"1.0"}\n');
    fs.writeFileSync(path.join(dir, 'junit.xml'), '<testsuites/>\n');
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.writeFileSync(path.join(dir, 'logs', 'karpenter.log'), 'line one\nline two\n'.repeat(2000));
  });
  afterAll(async () => {
    process.env = saved;
    await service.close();
  });

  it('skips with a reason outside GitHub Actions', async () => {
    const outcome = await uploadEvidence(dir, 'evidence', 0, {});
    expect(outcome).toEqual({ uploaded: false, reason: `not running on GitHub Actions (no ACTIONS_RUNTIME_TOKEN); the evidence stays in ${dir}` });
    expect(service.requests).toEqual([]);
  });

  it('creates, uploads in blocks and finalizes; the zip holds every file and its hash matches', async () => {
    Object.assign(process.env, service.env);
    const outcome = await uploadEvidence(dir, 'gpu-evidence', 7, process.env);
    expect(outcome.uploaded).toBe(true);
    const [artifact] = service.artifacts;
    expect(artifact).toBeDefined();
    expect(outcome).toMatchObject({ id: artifact!.id });
    expect(artifact!.createRequest).toMatchObject({
      name: 'gpu-evidence',
      workflow_run_backend_id: 'run-backend-1',
      workflow_job_run_backend_id: 'job-backend-1',
      mime_type: 'application/zip',
    });
    // retention-days 7 becomes an expiry a week out.
    const expires = Date.parse(String(artifact!.createRequest.expires_at));
    expect(Math.round((expires - Date.now()) / 86_400_000)).toBe(7);
    expect(service.requests.some((r) => r.endsWith('?comp=block'))).toBe(true);
    expect(service.requests.some((r) => r.endsWith('?comp=blocklist'))).toBe(true);

    const zip = artifact!.blob!;
    expect(artifact!.finalizeRequest).toMatchObject({ size: String(zip.length), hash: `sha256:${sha256(zip)}` });
    const zipFile = path.join(dir, '..', `${path.basename(dir)}.zip`);
    fs.writeFileSync(zipFile, zip);
    const listed = execFileSync('unzip', ['-Z1', zipFile], { encoding: 'utf8' }).trim().split('\n').sort();
    expect(listed).toEqual(['junit.xml', 'logs/karpenter.log', 'results.json']);
    for (const name of listed) {
      const inZip = execFileSync('unzip', ['-p', zipFile, name]);
      expect(sha256(inZip)).toBe(sha256(fs.readFileSync(path.join(dir, name))));
    }
  });
});

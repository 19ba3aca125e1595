// Uploads the evidence dir with @actions/artifact. Outside GitHub (no runtime token) the upload
// is skipped with a notice and the evidence stays on disk.
import * as core from '@actions/core';
import { DefaultArtifactClient } from '@actions/artifact';
import { listFiles } from './write.js';

export type UploadOutcome = { uploaded: true; id: number; size: number; digest?: string } | { uploaded: false; reason: string };

export async function uploadEvidence(dir: string, name: string, retentionDays: number, env: NodeJS.ProcessEnv = process.env): Promise<UploadOutcome> {
  if (!env.ACTIONS_RUNTIME_TOKEN || !env.ACTIONS_RESULTS_URL) {
    return { uploaded: false, reason: `not running on GitHub Actions (no ACTIONS_RUNTIME_TOKEN); the evidence stays in ${dir}` };
  }
  const files = listFiles(dir);
  const client = new DefaultArtifactClient();
  const { id, size, digest } = await client.uploadArtifact(name, files, dir, retentionDays > 0 ? { retentionDays } : {});
  if (id === undefined) throw new Error(`artifact ${name}: the service returned no artifact id`);
  core.info(`uploaded artifact ${name} (id ${id}, ${size ?? 0} bytes, sha256 ${digest ?? 'n/a'})`);
  return { uploaded: true, id, size: size ?? 0, digest };
}

// A loopback release mirror: archives in the official layout (built from local binaries), with
// the published-checksum files next to them, served over HTTP on 127.0.0.1; counts requests.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ToolDescription } from '../../src/tools/catalog.js';
import type { Platform } from '../../src/tools/platform.js';

export interface MirrorTool {
  desc: ToolDescription;
  /** semver, no "v" */
  version: string;
  /** The binary to package. */
  binary: string;
}

export interface Mirror {
  url: string;
  root: string;
  /** Every request path, in order. */
  requests: string[];
  /** Path (relative to the root) of each tool's archive. */
  archives: Record<string, string>;
  /** Replaces an archive's bytes (the checksum file keeps the original hash). */
  tamper(tool: string): void;
  close(): Promise<void>;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function startMirror(tools: MirrorTool[], p: Platform): Promise<Mirror> {
  const root = mkdtempSync(join(tmpdir(), 'gac-mirror-'));
  const archives: Record<string, string> = {};
  const sums = new Map<string, string[]>();
  for (const t of tools) {
    const stage = mkdtempSync(join(tmpdir(), 'gac-mirror-stage-'));
    const binDir = t.desc.binDir(p);
    mkdirSync(join(stage, binDir), { recursive: true });
    copyFileSync(t.binary, join(stage, binDir, t.desc.binary));
    const rel = t.desc.archivePath(t.version, p);
    const file = join(root, rel);
    mkdirSync(dirname(file), { recursive: true });
    // The official archives: helm's holds <os>-<arch>/helm, ko's holds ko at the top.
    execFileSync('tar', ['-czf', file, '-C', stage, binDir || t.desc.binary]);
    rmSync(stage, { recursive: true, force: true });
    archives[t.desc.name] = rel;
    const sumsRel = t.desc.checksumsPath(t.version, p);
    sums.set(sumsRel, [...(sums.get(sumsRel) ?? []), `${sha256(readFileSync(file))}  ${rel.split('/').pop()}`]);
  }
  for (const [rel, lines] of sums) writeFileSync(join(root, rel), `${lines.join('\n')}\n`);

  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    try {
      const body = readFileSync(join(root, path.replace(/^\/+/, '')));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    root,
    requests,
    archives,
    tamper(tool) {
      const file = join(root, archives[tool]!);
      const bytes = readFileSync(file);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      writeFileSync(file, bytes);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())).then(() => rmSync(root, { recursive: true, force: true })),
  };
}

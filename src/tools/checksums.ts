import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';

/**
 * Parses sha256sum/goreleaser checksum text ("<hex>  <file>" or "<hex> *<file>" per line; a
 * single-file .sha256sum may hold only the hash) into file -> lower-case hex.
 */
export function parseChecksums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64})(?:\s+\*?(\S.*?))?\s*$/.exec(line.trim());
    if (!m) continue;
    sums.set(m[2] ? basename(m[2]) : '', m[1]!.toLowerCase());
  }
  return sums;
}

/** The expected hash of `file` in a checksum file's text; throws when it is not listed. */
export function expectedChecksum(text: string, file: string, source: string): string {
  const sums = parseChecksums(text);
  const sum = sums.get(file) ?? (sums.size === 1 ? sums.get('') : undefined);
  if (!sum) throw new Error(`${source} lists no sha256 for ${file}`);
  return sum;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The one message a mismatch produces (tests and users match on it). */
export function checksumMismatchMessage(file: string, expected: string, actual: string): string {
  return `sha256 mismatch for ${file}: expected ${expected}, got ${actual}`;
}

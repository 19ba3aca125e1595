// Pure parsers for action inputs. Each returns a value or a problem phrased as
// "<what is wrong>; accepted: <what is accepted>", which inputs.ts prefixes with the input name.

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };
export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const bad = (problem: string): Parsed<never> => ({ ok: false, problem });

/** Longest value an error message repeats in full; longer ones are cut, with their length. */
export const SHOWN_MAX = 80;

/**
 * A value as an error message shows it: quoted, line breaks and quotes escaped (so one bad
 * input stays one line of the error list), and cut to its first 60 characters with its length
 * when longer than SHOWN_MAX: a 10 kB run-id must not become a 10 kB log line.
 */
export function shown(raw: string): string {
  if (raw.length <= SHOWN_MAX) return JSON.stringify(raw);
  return `${JSON.stringify(raw.slice(0, 60)).slice(0, -1)}…" (${raw.length} characters)`;
}

/** At most five values, shown, and how many more: a pasted list must not flood the error. */
export function listShown(values: string[]): string {
  const head = values.slice(0, 5).map(shown).join(', ');
  return values.length > 5 ? `${head} and ${values.length - 5} more` : head;
}

/** A file path as an error message shows it: unquoted, cut like shown() when very long. */
export function shownPath(file: string): string {
  return file.length <= SHOWN_MAX * 2 ? file : `${file.slice(0, 60)}… (${file.length} characters)`;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "90s", "5m", "1m30s", "1h" -> milliseconds (at least 1 s, at most 24 h). */
export function parseDuration(raw: string): Parsed<number> {
  const accepted = 'a duration such as 90s, 5m or 1m30s (units ms, s, m, h), from 1s to 24h';
  const text = raw.trim();
  if (!/^(\d+(ms|s|m|h))+$/.test(text)) return bad(`${shown(raw)} is not a duration; accepted: ${accepted}`);
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(n) * UNIT_MS[unit!]!;
  if (ms < 1000 || ms > 24 * UNIT_MS.h!) return bad(`${shown(raw)} is out of range; accepted: ${accepted}`);
  return ok(ms);
}

/** A stability window: "0" or "0s" (none), or a duration from 1s to 10m. */
export function parseWindow(raw: string): Parsed<number> {
  const text = raw.trim();
  if (/^0+(ms|s|m|h)?$/.test(text)) return ok(0);
  const accepted = 'a duration such as 30s or 1m (units ms, s, m, h) from 1s to 10m, or 0 for none';
  const d = parseDuration(text);
  if (!d.ok)
    return bad(
      /out of range/.test(d.problem) ? `${shown(raw)} is out of range; accepted: ${accepted}` : `${shown(raw)} is not a duration; accepted: ${accepted}`,
    );
  if (d.value > 10 * UNIT_MS.m!) return bad(`${shown(raw)} is out of range; accepted: ${accepted}`);
  return ok(d.value);
}

export function parseInteger(raw: string, min: number, max: number): Parsed<number> {
  const accepted = `an integer from ${min} to ${max}`;
  const text = raw.trim();
  if (!/^-?\d+$/.test(text)) return bad(`${shown(raw)} is not an integer; accepted: ${accepted}`);
  const n = Number(text);
  if (n < min || n > max) return bad(`${n} is out of range; accepted: ${accepted}`);
  return ok(n);
}

export function parseEnum<T extends string>(raw: string, values: readonly T[]): Parsed<T> {
  const text = raw.trim();
  if ((values as readonly string[]).includes(text)) return ok(text as T);
  return bad(`${shown(raw)} is not supported; accepted: ${values.join(', ')}`);
}

/** The YAML 1.2 core booleans GitHub's getBooleanInput accepts. */
export function parseBoolean(raw: string): Parsed<boolean> {
  const text = raw.trim();
  if (['true', 'True', 'TRUE'].includes(text)) return ok(true);
  if (['false', 'False', 'FALSE'].includes(text)) return ok(false);
  return bad(`${shown(raw)} is not a boolean; accepted: true or false`);
}

/** "v1.8.0" (a release tag, optionally with a pre-release suffix). */
export function parseVersion(raw: string): Parsed<string> {
  const text = raw.trim();
  if (/^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(text)) return ok(text);
  return bad(`${shown(raw)} is not a release version; accepted: a version tag such as v1.8.0`);
}

/** A DNS-1123 label of at most `max` characters. */
export function parseDnsLabel(raw: string, max = 63): Parsed<string> {
  const text = raw.trim();
  const accepted = `lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${max} characters`;
  if (text.length === 0 || text.length > max || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(text)) {
    return bad(`${shown(raw)} is not a valid name; accepted: ${accepted}`);
  }
  return ok(text);
}

/** A positive Kubernetes quantity such as 100, 2.5, 500m, 1k, 4Gi. */
export function parseQuantity(raw: string): Parsed<string> {
  const text = raw.trim();
  if (/^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.test(text) && !/^[0.]+[a-zA-Z]*$/.test(text)) return ok(text);
  return bad(`${shown(raw)} is not a positive quantity; accepted: a Kubernetes quantity greater than 0 such as 100, 2.5 or 500m`);
}

export function parseUrl(raw: string, schemes: readonly string[]): Parsed<string> {
  const text = raw.trim();
  const accepted = `an absolute URL with scheme ${schemes.join(' or ')}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad(`${shown(raw)} is not a URL; accepted: ${accepted}`);
  }
  if (!schemes.includes(url.protocol.replace(/:$/, ''))) return bad(`${shown(raw)} has scheme ${url.protocol}; accepted: ${accepted}`);
  if (url.username || url.password) return bad(`the URL carries credentials; accepted: ${accepted} without user or password`);
  return ok(text.replace(/\/+$/, ''));
}

/** An image repository without tag or digest: host[:port]/path. */
export function parseImageRepository(raw: string): Parsed<string> {
  const text = raw.trim();
  if (/^[a-zA-Z0-9.-]+(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)+$/.test(text)) return ok(text);
  return bad(`${shown(raw)} is not an image repository; accepted: registry/path without tag or digest, e.g. ghcr.io/org/karpenter-kwok`);
}

/** "name=duration, name=duration" over the given names. */
export function parseDurationMap<K extends string>(raw: string, names: readonly K[]): Parsed<Partial<Record<K, number>>> {
  const out: Partial<Record<K, number>> = {};
  const problems: string[] = [];
  for (const part of raw
    .split(/[,\n]/)
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([a-z-]+)\s*=\s*(\S+)$/.exec(part);
    if (!m) {
      problems.push(`${shown(part)} is not name=duration; accepted: a list such as hpa=3m, provision=5m`);
      continue;
    }
    const [, name, value] = m as unknown as [string, string, string];
    if (!(names as readonly string[]).includes(name)) {
      problems.push(`${shown(name)} is not a stage; accepted: ${names.join(', ')}`);
      continue;
    }
    const d = parseDuration(value);
    if (d.ok) out[name as K] = d.value;
    else problems.push(`${name}: ${d.problem}`);
  }
  const more = problems.length > 5 ? [`and ${problems.length - 5} more`] : [];
  return problems.length ? bad([...problems.slice(0, 5), ...more].join('; ')) : ok(out);
}

/** A comma-separated subset of names, returned in the canonical order of `names`. */
export function parseSubset<K extends string>(raw: string, names: readonly K[]): Parsed<K[]> {
  const parts = raw
    .split(/[,\s]+/)
    .map((p) => p.trim())
    .filter(Boolean);
  const unknown = parts.filter((p) => !(names as readonly string[]).includes(p));
  if (unknown.length) return bad(`${listShown(unknown)} not known; accepted: a comma-separated subset of ${names.join(', ')}`);
  return ok(names.filter((n) => parts.includes(n)));
}

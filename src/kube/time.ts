// Times of API objects.

/** ISO time of a timestamp field that client-node may have turned into a Date. */
export function iso(t: string | Date | undefined): string | undefined {
  if (t === undefined || t === null || t === '') return undefined;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString(); // a malformed time is no time
}

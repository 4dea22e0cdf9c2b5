/**
 * Parses an HTTP `Retry-After` value: delay-seconds (`'120'`) or an HTTP date. Returns
 * milliseconds from `now` (0 for a date in the past), or undefined when it is neither.
 */
export function parseRetryAfter(value: unknown, now: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (s.length === 0) return undefined;
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  // An HTTP date names its day and month; without a letter it is not one (Date.parse('-1') is a year).
  if (!/[a-z]/i.test(s)) return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

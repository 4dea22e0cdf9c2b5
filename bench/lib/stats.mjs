/** Small statistics over samples: medians and ranges are what survive a noisy shared machine. */

export function median(xs) {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** `{ median, min, max, samples }` of a list of numbers. */
export function summary(xs) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), samples: xs };
}

/**
 * The ratio of `a` to `b` per round (`a[i] / b[i]`: the two ran next to each other, so
 * drift of the machine between rounds cancels out), summarised.
 */
export function ratio(a, b) {
  const n = Math.min(a.length, b.length);
  const rs = [];
  for (let i = 0; i < n; i++) rs.push(a[i] / b[i]);
  return summary(rs);
}

/** Rounds `x` to `digits` significant figures (for reports, not for arithmetic). */
export function sig(x, digits = 3) {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}

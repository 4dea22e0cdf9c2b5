/**
 * True when two option values configure the same thing: plain objects and arrays compared
 * member by member (key order ignored, a key set to `undefined` the same as one left out),
 * everything else by identity — functions, stores, clocks, class instances. A reload
 * reparses its file into new objects, so identity alone would call every policy changed;
 * comparing a store or a function by content, on the other hand, is neither possible nor
 * meaningful.
 */
export function sameOptions(a: unknown, b: unknown): boolean {
  return same(a, b, 0);
}

// Options are shallow trees; a deeper one is most likely a cycle: call it changed.
const MAX_DEPTH = 32;

function same(a: unknown, b: unknown, depth: number): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (depth >= MAX_DEPTH) return false;
  const arrA = Array.isArray(a);
  if (arrA !== Array.isArray(b)) return false;
  if (arrA) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!same(x[i], y[i], depth + 1)) return false;
    return true;
  }
  if (!isPlain(a) || !isPlain(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k of Object.keys(x)) {
    if (x[k] === undefined) continue;
    n++;
    if (!Object.hasOwn(y, k) || !same(x[k], y[k], depth + 1)) return false;
  }
  for (const k of Object.keys(y)) if (y[k] !== undefined) n--;
  return n === 0;
}

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

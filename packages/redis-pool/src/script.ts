import { createHash } from 'node:crypto';
import type { RateLimitBlock, RateLimitWindow } from '@breakwater/core/extend';

/**
 * The Lua of one rate-limit decision, generated per set of windows.
 *
 * Redis runs scripts one at a time, so the script's cost caps the decisions of every
 * instance together. A generic script (settings read from ARGV, loops dispatching on the
 * algorithm, state in tables, closures, doubles formatted as text with `%.17g`) cost Redis
 * 17 µs for one window and 31 µs for three, against 2.6 µs for a bare INCR+PEXPIRE. So:
 *
 * - The script is generated for one set of windows: settings are number literals, each
 *   window's code is inlined and unrolled, and state lives in locals: no ARGV parsing, no
 *   dispatch, no tables, no closures.
 * - Redis does only what must be atomic: bring each window to `now`, decide, consume.
 *   The figures reported back (remaining, reset, retry-after) are pure functions of the
 *   resulting state, so the store computes them in Node with the memory store's own
 *   functions (see RedisRateLimitStore), taking that work off the shared server.
 * - State is stored, and returned as the reply, as one string of little-endian doubles
 *   (Redis's bundled `struct` library): exact, with no text formatting or parsing, and
 *   packed once per decision.
 * - The key's TTL is refreshed only when needed (below).
 *
 * One decision then costs Redis about what its three commands (TIME, GET, SETRANGE) cost.
 * The arithmetic mirrors `advance`, `admits` and `take` in
 * `packages/core/src/rate-limit/algorithms.ts` operation for operation, so the doubles come
 * out bit for bit the same: `math.fmod` is C's fmod, like JS `%`; JS prints numbers as the
 * shortest decimal that reads back as the same double, and Lua reads them back exactly.
 *
 * KEYS[1]  the key's state, and the reply: little-endian doubles
 *          `[expiresAt, ttlUntil, now, violated, then per window: fingerprint, s0, s1, s2]`
 *          `expiresAt`: in the decision clock, when the state is as good as fresh;
 *          `violated`: bit i set when window i refused (0: allowed, and consumed);
 *          `fingerprint`: of the window's settings, so a window whose settings changed
 *          starts afresh (one that left the set is forgotten); `s0..s2`: the window's
 *          state after the decision (algorithms.ts)
 * ARGV[1]  cost
 * ARGV[2]  now in ms; absent: Redis's own clock (TIME)
 *
 * Expiry: the key must outlive `expiresAt`, and every write leaves it with an expiry,
 * whatever was stored before. Setting a TTL (`SET … PX`) costs Redis twice what
 * overwriting the value in place (SETRANGE, which keeps the TTL) does, so on Redis's clock
 * the TTL is set with a quarter of slack and the value is overwritten in place for as long
 * as the key's actual TTL (PTTL, not a figure read from the value, which anyone may have
 * written) still covers the new `expiresAt` and is no longer than that slack: a busy key
 * pays for a TTL once per quarter of its idle time, an idle key vanishes within 1.25× its
 * idle time, and a key without a TTL, or with a far one, gets one on its next decision.
 * `ttlUntil` records when the TTL set last ends, for inspection only. On an injected clock
 * (tests) the TTL is set every time.
 *
 * A stored state is trusted only as far as a write of this script could have made it: an
 * `expiresAt` no later than `now` + the idle time (1s of slack for a clock step back) and
 * each window's numbers within its settings. Anything else (a value of the
 * right size with a corrupt header or state) starts afresh.
 */
export interface RateLimitScript {
  readonly lua: string;
  readonly sha: string;
  /** Bytes of the reply: 8 × (4 + 4 × windows), and 32 more with `block`. */
  readonly replyBytes: number;
}

/** At most this many windows in one decision: Lua allows 200 locals in a function. */
export const MAX_WINDOWS = 16;

const CODE = { 'token-bucket': 1, 'fixed-window': 2, 'sliding-window': 3 } as const;

/** Settings become Lua number literals: they must be finite and positive. */
function checkSetting(x: number, what: string): void {
  if (!(typeof x === 'number' && x > 0 && x < Number.POSITIVE_INFINITY))
    throw new RangeError(`window ${what}: expected a finite number > 0, got ${String(x)}`);
}

/** As `idleMs` in core's algorithms.ts: after this long the state equals a fresh one. */
function idleMs(w: RateLimitWindow): number {
  return w.algorithm === 'token-bucket' ? Math.ceil((w.burst * w.windowMs) / w.limit) : 2 * w.windowMs;
}

/**
 * A window's identity in the stored state: 52 bits of a hash of its settings, an exact
 * double (two different settings share one with a chance of 2^-52).
 */
export function fingerprint(w: RateLimitWindow): number {
  const id = `${w.algorithm}:${w.limit}:${w.windowMs}:${w.burst}`;
  let f = fingerprints.get(id);
  if (f === undefined) {
    const h = createHash('sha1').update(id).digest();
    f = h.readUIntBE(0, 6) * 16 + (h[6]! >> 4);
    // Settings come from configuration (and a few plans' limits); a bound all the same.
    if (fingerprints.size >= 10_000) fingerprints.clear();
    fingerprints.set(id, f);
    windowsByFingerprint.set(f, w);
  }
  return f;
}

const fingerprints = new Map<string, number>();
/** Lua: `now` in milliseconds, the caller's clock (ARGV[2]) or, without one, Redis's (TIME). */
const NOW_LUA = `local now = ARGV[2]
if now == nil then
  local t = redis.call('TIME')
  now = t[1] * 1000 + math.floor(t[2] / 1000)
else
  now = tonumber(now)
end`;

/**
 * Windows by fingerprint, for every window this process has built a script for: reading a
 * key's state back (`get`) finds the settings, a `limit` function's included, that wrote it.
 */
export const windowsByFingerprint = new Map<number, RateLimitWindow>();

/** Builds the script deciding over `windows`. Throws RangeError on windows it cannot encode. */
export function buildScript(windows: readonly RateLimitWindow[], block?: RateLimitBlock): RateLimitScript {
  const n = windows.length;
  if (n < 1 || n > MAX_WINDOWS) throw new RangeError(`windows: expected 1 to ${MAX_WINDOWS}, got ${n}`);
  let idle = 0;
  for (const w of windows) {
    if (CODE[w.algorithm] === undefined)
      throw new RangeError(`window algorithm: unknown ${String(w.algorithm)}`);
    for (const k of ['limit', 'windowMs', 'burst'] as const) checkSetting(w[k], k);
    if (idleMs(w) > idle) idle = idleMs(w);
  }
  const ttl = Math.max(1, Math.ceil(idle));
  const px = ttl + Math.ceil(ttl / 4);
  const b = block;
  if (b !== undefined)
    for (const k of ['after', 'forMs', 'growth', 'maxMs', 'windowMs'] as const)
      checkSetting(b[k], `block ${k}`);
  const size = 8 * (4 + 4 * n) + (b === undefined ? 0 : 32);
  const format = `<${'d'.repeat(4 + 4 * n + (b === undefined ? 0 : 4))}`;
  const each = (f: (w: RateLimitWindow, i: number) => string, sep: string) =>
    windows.map((w, j) => f(w, j + 1)).join(sep);
  const stateVars =
    each((_, i) => `f${i}, p${i}, q${i}, r${i}`, ', ') + (b === undefined ? '' : ', b0, b1, b2, b3');
  // With `block`, a state may be kept longer than the windows' idle time (a block's history).
  const life = b === undefined ? idle : Math.max(idle, b.windowMs, 2 * b.maxMs);

  const lua = `local cost = tonumber(ARGV[1])
local now = ARGV[2]
local own = now == nil
local fmod = math.fmod
if own then
  local t = redis.call('TIME')
  now = t[1] * 1000 + math.floor(t[2] / 1000)
else
  now = tonumber(now)
end
local key = KEYS[1]
-- pcall: a key left in another format (a hash from an older version) is overwritten, not an error.
local raw = redis.pcall('GET', key)
local size, expiresAt, ttlUntil, _, ${stateVars} = 0
if type(raw) == 'string' then
  size = #raw
  if size == ${size} then expiresAt, ttlUntil, _, _, ${stateVars} = struct.unpack('${format}', raw)
  elseif size >= 32 then
    -- Another number of windows: keep those whose place and settings still match.
    expiresAt, ttlUntil = struct.unpack('<dd', raw)
${each((_, i) => `    if size >= ${32 + 32 * i} then f${i}, p${i}, q${i}, r${i} = struct.unpack('<dddd', raw, ${1 + 32 * i}) end`, '\n')}
  end
end
-- An expired key starts afresh in every window, as in the memory store; so does a header
-- claiming an expiry no write could have set (a corrupt value).
local live = expiresAt ~= nil and expiresAt > now and expiresAt <= now + ${life + 1000}
${b === undefined ? '' : blockHead(b)}${each(windowCode, '\n')}
local violated = ${each((_, i) => `(x${i} and ${2 ** (i - 1)} or 0)`, ' + ')}
${b === undefined ? '' : blockTail(b, 2 ** n - 1)}if violated == 0 then
${each((w, i) => `  p${i} = p${i} ${w.algorithm === 'token-bucket' ? '-' : '+'} cost`, '\n')}
end
-- Refresh the TTL unless the key's own (not one the value claims) covers its new expiry
-- and is no longer than a fresh one: a key without a TTL, or with a far one, gets one.
-- Redis may stamp the expiry from a clock read up to 1 ms before TIME's: count it 1 ms short.
expiresAt = now + ${idle}
${
  b === undefined
    ? ''
    : `do
  local k1, k2 = 0, 0
  if b0 > 0 then k1 = b1 + ${b.windowMs} end
  if b3 > 0 then k2 = b2 + ${b.maxMs} end
  if k2 > k1 then k1 = k2 end
  if k1 > expiresAt then expiresAt = k1 end
end
`
}local keep = false
if own and size == ${size} then
  local pttl = redis.call('PTTL', key)
  keep = pttl > ${idle} and pttl <= ${px}
end
if not keep then
  if own then ttlUntil = now + ${px - 1} else ttlUntil = 0 end
end
local state = struct.pack('${format}', expiresAt, ttlUntil, now, violated, ${each(
    (w, i) => `${fingerprint(w)}, p${i}, q${i}, r${i}`,
    ', ',
  )}${b === undefined ? '' : ', b0, b1, b2, b3'})
${
  b === undefined
    ? `if keep then redis.call('SETRANGE', key, 0, state) else redis.call('SET', key, state, 'PX', ${px}) end`
    : // A block's state lives as long as its history: the TTL follows it, with a quarter of slack.
      `local lifeMs = math.ceil(expiresAt - now)
redis.call('SET', key, struct.pack('${format}', expiresAt, now + lifeMs + math.ceil(lifeMs / 4) - 1, now, violated, ${each(
        (w, i) => `${fingerprint(w)}, p${i}, q${i}, r${i}`,
        ', ',
      )}, b0, b1, b2, b3), 'PX', lifeMs + math.ceil(lifeMs / 4))`
}
return state
`;
  return { lua, sha: createHash('sha1').update(lua).digest('hex'), replyBytes: size };
}

/**
 * Lua: window `i`'s stored numbers are ones a decision could have left (a comparison with
 * NaN is false, so NaN fails too): a token bucket's tokens within 0..burst, a window's
 * counts within 0..limit (a window admits only within its limit), the time or window
 * start no later than the key's expiry.
 */
function sane(w: RateLimitWindow, i: number): string {
  const [p, q, r] = [`p${i}`, `q${i}`, `r${i}`];
  return w.algorithm === 'token-bucket'
    ? `${p} >= 0 and ${p} <= ${w.burst} and ${q} <= expiresAt`
    : `${p} >= 0 and ${p} <= ${w.limit} and ${r} >= 0 and ${r} <= ${w.limit} and ${q} <= expiresAt`;
}

/** One window: its state (fresh unless live with the same settings), `advance`, and `x`: it refuses. */
function windowCode(w: RateLimitWindow, i: number): string {
  const [L, W, B] = [String(w.limit), String(w.windowMs), String(w.burst)];
  const [p, q, r] = [`p${i}`, `q${i}`, `r${i}`];
  const head = `-- window ${i}: ${w.algorithm}, limit ${L}, ${W} ms, burst ${B}
if not (live and f${i} == ${fingerprint(w)} and ${sane(w, i)}) then ${p}, ${q}, ${r} = ${w.algorithm === 'token-bucket' ? `${B}, now` : `0, now - fmod(now, ${W})`}, 0 end`;
  const refuses =
    w.algorithm === 'token-bucket'
      ? `not (${p} >= cost)`
      : w.algorithm === 'fixed-window'
        ? `not (${p} + cost <= ${L})`
        : `not ((${r} * (${W} - (now - ${q}))) / ${W} + ${p} + cost <= ${L})`;
  return `${head}
${advanceCode(w, i)}
local x${i} = ${refuses}`;
}

/** Lua: window `i`'s state brought to `now` (`advance` in algorithms.ts). */
function advanceCode(w: RateLimitWindow, i: number): string {
  const [L, W, B] = [String(w.limit), String(w.windowMs), String(w.burst)];
  const [p, q, r] = [`p${i}`, `q${i}`, `r${i}`];
  switch (w.algorithm) {
    case 'token-bucket':
      return `if now > ${q} then
  local v = ${p} + ((now - ${q}) * ${L}) / ${W}
  if v < ${B} then ${p} = v else ${p} = ${B} end
  ${q} = now
end`;
    case 'fixed-window':
      return `do
  local start = now - fmod(now, ${W})
  if start ~= ${q} then ${p}, ${q} = 0, start end
end`;
    case 'sliding-window':
      return `do
  local start = now - fmod(now, ${W})
  if start ~= ${q} then
    if start - ${q} == ${W} then ${r} = ${p} else ${r} = 0 end
    ${p}, ${q} = 0, start
  end
end`;
  }
}

/**
 * Lua: the block's state (`b0..b3`, algorithms.ts's `[refusals, since, until, blocks]`),
 * fresh unless live and sane, brought to `now` as `blockAdvance` does; `blocked`: the
 * milliseconds left of a block in force.
 */
function blockHead(b: RateLimitBlock): string {
  return `-- block: after ${b.after} refusals in ${b.windowMs} ms, ${b.forMs} ms growing ${b.growth}x up to ${b.maxMs} ms
if not (live and b0 ~= nil and b0 >= 0 and b0 < ${b.after} and b3 >= 0 and b1 <= expiresAt and b2 <= expiresAt) then b0, b1, b2, b3 = 0, 0, 0, 0 end
local blocked = 0
if b2 > now then blocked = b2 - now
else
  if b3 > 0 and now >= b2 + ${b.maxMs} then b3 = 0 end
  if b0 > 0 and now >= b1 + ${b.windowMs} then b0 = 0 end
end
`;
}

/** Lua: a key in a block refuses in every window; a refusal otherwise counts (`blockRefused`). */
function blockTail(b: RateLimitBlock, all: number): string {
  return `if blocked > 0 then violated = ${all}
elseif violated ~= 0 then
  if b0 == 0 then b1 = now end
  b0 = b0 + 1
  if b0 >= ${b.after} then
    local ms = ${b.forMs}
    local k = 0
    while k < b3 and ms < ${b.maxMs} do ms = ms * ${b.growth}; k = k + 1 end
    if not (ms < ${b.maxMs}) then ms = ${b.maxMs} end
    b0, b2, b3 = 0, now + ms, b3 + 1
  end
end
`;
}

/** Bytes of a state over `n` windows, without a block. */
export function stateBytes(n: number): number {
  return 8 * (4 + 4 * n);
}

/**
 * The Lua giving `cost` back to a key over `windows` (`give` in algorithms.ts), in one
 * atomic call: a key that expired, holds other windows or is corrupt is left alone. Only
 * the windows' numbers change (SETRANGE keeps the key's expiry; one without is given one).
 * ARGV as the decision script's. Replies an empty string.
 */
export function buildRefundScript(windows: readonly RateLimitWindow[]): { lua: string; sha: string } {
  const n = windows.length;
  if (n < 1 || n > MAX_WINDOWS) throw new RangeError(`windows: expected 1 to ${MAX_WINDOWS}, got ${n}`);
  let idle = 0;
  for (const w of windows) if (idleMs(w) > idle) idle = idleMs(w);
  const ttl = Math.max(1, Math.ceil(idle));
  const px = ttl + Math.ceil(ttl / 4);
  const size = stateBytes(n);
  const parts = windows.map((w, j) => {
    const i = j + 1;
    const [B, p, q, r] = [String(w.burst), `p${i}`, `q${i}`, `r${i}`];
    const give =
      w.algorithm === 'token-bucket'
        ? `do local v = ${p} + cost; if v > ${B} then ${p} = ${B} else ${p} = v end end`
        : `do local v = ${p} - cost; if v < 0 then ${p} = 0 else ${p} = v end end`;
    return `local f${i}, ${p}, ${q}, ${r} = struct.unpack('<dddd', raw, ${33 + 32 * j})
if f${i} ~= ${fingerprint(w)} then return '' end
${advanceCode(w, i)}
${give}`;
  });
  const lua = `local cost = tonumber(ARGV[1])
local fmod = math.fmod
${NOW_LUA}
local key = KEYS[1]
local raw = redis.pcall('GET', key)
if type(raw) ~= 'string' or (#raw ~= ${size} and #raw ~= ${size + 32}) then return '' end
local expiresAt = struct.unpack('<d', raw)
if not (expiresAt > now) then return '' end
${parts.join('\n')}
redis.call('SETRANGE', key, 32, struct.pack('<${'d'.repeat(4 * n)}', ${windows
    .map((w, j) => `${fingerprint(w)}, p${j + 1}, q${j + 1}, r${j + 1}`)
    .join(', ')}))
if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ${px}) end
return ''
`;
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * The Lua reading a key's state without changing it: the decision clock's `now` as one
 * little-endian double, then the stored value (empty when there is none). ARGV as above.
 */
export const PEEK_LUA = `${NOW_LUA}
local raw = redis.pcall('GET', KEYS[1])
if type(raw) ~= 'string' then raw = '' end
return struct.pack('<d', now) .. raw
`;
export const PEEK_SHA: string = createHash('sha1').update(PEEK_LUA).digest('hex');

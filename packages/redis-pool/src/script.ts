import { createHash } from 'node:crypto';

/**
 * One rate-limit decision over every window of a route, atomically (Redis runs a script
 * alone). It mirrors `packages/core/src/rate-limit/algorithms.ts` and the decision loop
 * of `MemoryStore.consume` line for line, with the same operation order so the doubles
 * come out bit for bit the same: `math.fmod` is C's fmod, like JS `%`; state is stored
 * with `%.17g`, which round-trips a double exactly; replies are strings for the same reason.
 *
 * KEYS[1]  the key's hash: field `e` (expiry, in the decision clock) and one field per
 *          window, `"<state0> <state1> <state2>"`
 * ARGV[1]  now in ms, or '' for Redis's own clock (TIME)
 * ARGV[2]  cost; ARGV[3] number of windows; then per window:
 *          field name, algorithm ('t' | 'f' | 's'), limit, window ms, burst
 * Returns  { allowed '1'|'0', retryAfterMs, then per window: remaining, resetMs, violated '1'|'0' }
 */
export const RATE_LIMIT_LUA = `
local key = KEYS[1]
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local cost = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local fields, alg, limit, W, burst = {}, {}, {}, {}, {}
for i = 1, n do
  local b = 3 + (i - 1) * 5
  fields[i] = ARGV[b + 1]
  alg[i] = ARGV[b + 2]
  limit[i] = tonumber(ARGV[b + 3])
  W[i] = tonumber(ARGV[b + 4])
  burst[i] = tonumber(ARGV[b + 5])
end

local s = {}

local function init(o, i)
  if alg[i] == 't' then
    s[o] = burst[i]
    s[o + 1] = now
  else
    s[o] = 0
    s[o + 1] = now - math.fmod(now, W[i])
  end
  s[o + 2] = 0
end

local function advance(o, i)
  local a = alg[i]
  if a == 't' then
    local last = s[o + 1]
    if now > last then
      s[o] = math.min(burst[i], s[o] + ((now - last) * limit[i]) / W[i])
      s[o + 1] = now
    end
  elseif a == 'f' then
    local start = now - math.fmod(now, W[i])
    if start ~= s[o + 1] then
      s[o] = 0
      s[o + 1] = start
    end
  else
    local start = now - math.fmod(now, W[i])
    local prevStart = s[o + 1]
    if start ~= prevStart then
      if start - prevStart == W[i] then s[o + 2] = s[o] else s[o + 2] = 0 end
      s[o] = 0
      s[o + 1] = start
    end
  end
end

local function used(o, i)
  if alg[i] == 's' then
    local elapsed = now - s[o + 1]
    return (s[o + 2] * (W[i] - elapsed)) / W[i] + s[o]
  end
  return s[o]
end

local function admits(o, i, c)
  if alg[i] == 't' then return s[o] >= c end
  return used(o, i) + c <= limit[i]
end

local function take(o, i, c)
  if alg[i] == 't' then s[o] = s[o] - c else s[o] = s[o] + c end
end

local function remaining(o, i)
  if alg[i] == 't' then return math.max(0, math.floor(s[o])) end
  return math.max(0, math.floor(limit[i] - used(o, i)))
end

local function waitMs(o, i, c)
  local a = alg[i]
  if a == 't' then
    if c > burst[i] then return W[i] end
    local missing = c - s[o]
    if missing <= 0 then return 0 end
    return math.ceil((missing * W[i]) / limit[i])
  elseif a == 'f' then
    if s[o] + c <= limit[i] then return 0 end
    return s[o + 1] + W[i] - now
  end
  if c > limit[i] then return W[i] end
  local w = W[i]
  local elapsed = now - s[o + 1]
  local cur = s[o]
  local prev = s[o + 2]
  if prev * ((w - elapsed) / w) + cur + c <= limit[i] then return 0 end
  local room = limit[i] - cur - c
  if room >= 0 and prev > 0 then return math.ceil((w * (prev - room)) / prev) - elapsed end
  local untilNext = w - elapsed
  local roomNext = limit[i] - c
  if cur <= roomNext then return untilNext end
  return untilNext + math.ceil((w * (cur - roomNext)) / cur)
end

local function fullResetMs(o, i)
  local a = alg[i]
  if a == 't' then return math.ceil(((burst[i] - s[o]) * W[i]) / limit[i]) end
  if a == 'f' then
    if s[o] == 0 then return 0 end
    return s[o + 1] + W[i] - now
  end
  local e = s[o + 1] + W[i] - now
  if s[o] > 0 then return e + W[i] end
  if s[o + 2] > 0 then return e end
  return 0
end

local function idleMs(i)
  if alg[i] == 't' then return math.ceil((burst[i] * W[i]) / limit[i]) end
  return 2 * W[i]
end

local function fmt(x)
  return string.format('%.17g', x)
end

local vals = redis.call('HMGET', key, 'e', unpack(fields))
local exp = tonumber(vals[1])
-- A new or expired key starts afresh in every window, as in the memory store.
local fresh = exp == nil or exp <= now
for i = 1, n do
  local o = (i - 1) * 3 + 1
  local v = vals[i + 1]
  if fresh or not v then
    init(o, i)
  else
    local a, b, c = string.match(v, '^(%S+) (%S+) (%S+)$')
    s[o] = tonumber(a)
    s[o + 1] = tonumber(b)
    s[o + 2] = tonumber(c)
  end
end

local allowed = true
local violated = {}
for i = 1, n do
  local o = (i - 1) * 3 + 1
  advance(o, i)
  if not admits(o, i, cost) then
    allowed = false
    violated[i] = true
  end
end

local out = { '1', '0' }
local write = {}
local retry = 0
local idle = 0
for i = 1, n do
  local o = (i - 1) * 3 + 1
  if allowed then take(o, i, cost) end
  local left = remaining(o, i)
  local reset
  if not allowed and violated[i] then
    reset = waitMs(o, i, cost)
  elseif left < 1 then
    reset = waitMs(o, i, 1)
  else
    reset = fullResetMs(o, i)
  end
  if not allowed and reset > retry and violated[i] then retry = reset end
  local wi = idleMs(i)
  if wi > idle then idle = wi end
  out[#out + 1] = fmt(left)
  out[#out + 1] = fmt(reset)
  out[#out + 1] = violated[i] and '1' or '0'
  write[#write + 1] = fields[i]
  write[#write + 1] = fmt(s[o]) .. ' ' .. fmt(s[o + 1]) .. ' ' .. fmt(s[o + 2])
end
if not allowed then out[1] = '0' end
out[2] = fmt(retry)
redis.call('HSET', key, 'e', fmt(now + idle), unpack(write))
redis.call('PEXPIRE', key, math.max(1, math.ceil(idle)))
return out
`;

/** SHA1 of {@link RATE_LIMIT_LUA}, for EVALSHA. */
export const RATE_LIMIT_SHA: string = createHash('sha1').update(RATE_LIMIT_LUA).digest('hex');

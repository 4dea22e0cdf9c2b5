import { ConfigError } from '../errors.js';

/** Longest key kept: an IPv6 address with a zone fits; garbage is cut. */
const MAX_KEY = 45;

/** The default `ipv6Subnet`: a /56, what many ISPs hand one customer (express-rate-limit's default too). */
export const DEFAULT_IPV6_SUBNET = 56;

/** The `ipv6Subnet` option checked: an integer prefix length from 32 to 64 (default 56). */
export function ipv6SubnetOption(value: unknown, path: string): number {
  if (value === undefined) return DEFAULT_IPV6_SUBNET;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 32 || value > 64)
    throw new ConfigError(path, value, 'an integer prefix length from 32 to 64');
  return value;
}

/** The first four groups of an IPv6 address being read (module state: reading never yields). */
const groups = [0, 0, 0, 0];

/**
 * The rate-limit key for a client address. IPv4 addresses (and IPv4-mapped IPv6, as a
 * dual-stack server reports them) are used as they are; IPv6 addresses are grouped by
 * their first `subnet` bits (default /56), since one customer is routinely given a whole
 * /56 or /64 and could otherwise rotate through 2^64 keys. The key is the prefix in
 * canonical lower-case hex, e.g. `2001:db8:1:200::/56`. No regex and no array per call:
 * this runs on every request.
 */
export function clientIpKey(ip: string | undefined, subnet: number = DEFAULT_IPV6_SUBNET): string {
  if (ip === undefined || ip.length === 0) return 'unknown';
  // Behind a trusted proxy this is whatever X-Forwarded-For said: bound what one key costs.
  if (ip.indexOf(':') === -1) return ip.length <= MAX_KEY ? ip : ip.slice(0, MAX_KEY);
  if (ip.startsWith('::ffff:') && ip.indexOf('.') !== -1) return ip.slice(7);
  return ipv6Prefix(ip, subnet);
}

function ipv6Prefix(ip: string, subnet: number): string {
  let start = 0;
  let end = ip.length;
  const zone = ip.indexOf('%');
  if (zone !== -1) end = zone;
  if (ip.charCodeAt(0) === 91 /* [ */) {
    start = 1;
    const close = ip.indexOf(']');
    if (close !== -1 && close < end) end = close;
  }
  // Anything that is not an address keeps its raw text: still one bounded key, never a throw.
  if (!readGroups(ip, start, end)) return ip.length <= MAX_KEY ? ip : ip.slice(0, MAX_KEY);
  const whole = subnet >> 4;
  const bits = subnet & 15;
  let out = '';
  for (let i = 0; i < whole; i++) out += `${groups[i]!.toString(16)}:`;
  if (bits > 0) out += `${(groups[whole]! & (0xffff << (16 - bits)) & 0xffff).toString(16)}:`;
  return `${out}:/${subnet}`;
}

/**
 * Reads the first four groups of the address in `ip[start, end)` into `groups`, expanding
 * `::`. False when the text is not an IPv6 address.
 */
function readGroups(ip: string, start: number, end: number): boolean {
  const gap = ip.indexOf('::', start);
  if (gap === -1 || gap >= end) return readRun(ip, start, end, 0) === 8;
  const head = readRun(ip, start, gap, 0);
  if (head < 0) return false;
  // Groups after `::`: counted first, so the zeros it stands for are known.
  const tailStart = gap + 2;
  let tail = 0;
  if (tailStart < end) {
    tail = 1;
    for (let i = tailStart; i < end; i++) {
      const c = ip.charCodeAt(i);
      if (c === 58 /* : */) tail++;
      // An embedded IPv4 tail stands for two groups.
      else if (c === 46 /* . */) {
        tail++;
        break;
      }
    }
  }
  const zeros = 8 - head - tail;
  if (zeros < 1) return false;
  let n = head;
  for (let z = 0; z < zeros && n < 4; z++) groups[n++] = 0;
  if (tail === 0) return true;
  return readRun(ip, tailStart, end, head + zeros) === 8;
}

/**
 * Reads colon-separated hex groups of `ip[from, to)`, the first being group `n`, keeping
 * those that fall in groups 0 to 3 in `groups`. Returns the group count reached (an IPv4
 * tail counts two), or -1 on a malformed group.
 */
function readRun(ip: string, from: number, to: number, n: number): number {
  if (from === to) return n;
  let v = 0;
  let digits = 0;
  for (let i = from; i <= to; i++) {
    const c = i === to ? 58 : ip.charCodeAt(i);
    if (c === 58 /* : */) {
      if (digits === 0 || n >= 8) return -1;
      if (n < 4) groups[n] = v;
      n++;
      v = 0;
      digits = 0;
    } else if (c === 46 /* . */) {
      // An IPv4 tail (groups 6 and 7, past any prefix): its own digits are not checked.
      return n === 6 ? 8 : -1;
    } else {
      const d = hexDigit(c);
      if (d < 0 || ++digits > 4) return -1;
      v = (v << 4) | d;
    }
  }
  return n;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** How a framework treats `X-Forwarded-For` when it reports the client address. */
export type ProxyTrust = 'none' | 'some' | 'all';

/**
 * A framework's proxy setting as an adapter reports it: what it trusts, and the setting's
 * name for the warning (`app.set('trust proxy')`). Adapters keep one frozen object per
 * state, so reading it allocates nothing.
 */
export interface ProxySetting {
  readonly trust: ProxyTrust;
  /** The framework setting, as a user would write it. */
  readonly option: string;
  /** What to change, for the warning. */
  readonly advice: string;
}

/** What the proxy check reads of a request (the adapter's call). */
export interface ProxyCheckedRequest {
  header(name: string): string | undefined;
  proxySetting(): ProxySetting | undefined;
}

/** Where the proxy check reports (the route's limiter; the log deduplicates by `id`). */
export interface MisconfigurationSink {
  misconfigured(option: string, problem: string, id?: string): void;
}

/**
 * The guardrails of an `'ip'`-keyed limit, as express-rate-limit's validations: a proxy
 * setting that trusts every `X-Forwarded-For` entry (checked at the first request), and an
 * `X-Forwarded-For` header reaching an app that trusts no proxy (checked until the first
 * such header). Each is reported once; after that the request path reads one boolean.
 */
export class ProxyCheck {
  /** Nothing left to check. */
  done = false;
  private trustChecked = false;

  constructor(private readonly sink: MisconfigurationSink) {}

  check(req: ProxyCheckedRequest): void {
    if (!this.trustChecked) {
      this.trustChecked = true;
      const s = req.proxySetting();
      // A framework without a proxy setting has nothing to check.
      if (s === undefined) {
        this.done = true;
        return;
      }
      if (s.trust === 'all')
        this.sink.misconfigured(
          s.option,
          `trusts every X-Forwarded-For entry, so a client can send any address and escape an 'ip' rate limit; ${s.advice}`,
          'proxy:trust-all',
        );
    }
    if (req.header('x-forwarded-for') === undefined) return;
    this.done = true;
    const s = req.proxySetting();
    if (s !== undefined && s.trust === 'none')
      this.sink.misconfigured(
        s.option,
        `a request came with X-Forwarded-For but no proxy is trusted, so every client behind the proxy shares its address and one quota; ${s.advice}`,
        'proxy:x-forwarded-for',
      );
  }
}

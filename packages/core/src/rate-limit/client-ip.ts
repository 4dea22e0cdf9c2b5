/**
 * The rate-limit key for a client address. IPv4 addresses (and IPv4-mapped IPv6, as a
 * dual-stack server reports them) are used as they are; IPv6 addresses are grouped by
 * their /64, since one host is routinely given a whole /64 and could otherwise rotate
 * through 2^64 keys. No regex: this runs on every request.
 */
/** Longest key kept: an IPv6 address with a zone fits; garbage is cut. */
const MAX_KEY = 45;

export function clientIpKey(ip: string | undefined): string {
  if (ip === undefined || ip.length === 0) return 'unknown';
  // Behind a trusted proxy this is whatever X-Forwarded-For said: bound what one key costs.
  if (ip.indexOf(':') === -1) return ip.length <= MAX_KEY ? ip : ip.slice(0, MAX_KEY);
  if (ip.startsWith('::ffff:') && ip.indexOf('.') !== -1) return ip.slice(7);
  return ipv6Prefix64(ip);
}

function ipv6Prefix64(ip: string): string {
  let s = ip;
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  if (s.charCodeAt(0) === 91 /* [ */) s = s.slice(1, s.indexOf(']') === -1 ? s.length : s.indexOf(']'));
  const gap = s.indexOf('::');
  let groups: string[];
  if (gap === -1) {
    groups = s.split(':');
  } else {
    const head = gap === 0 ? [] : s.slice(0, gap).split(':');
    const tailStr = s.slice(gap + 2);
    const tail = tailStr.length === 0 ? [] : tailStr.split(':');
    // An embedded IPv4 tail stands for two groups.
    const tailGroups =
      tail.length > 0 && tail[tail.length - 1]!.indexOf('.') !== -1 ? tail.length + 1 : tail.length;
    const zeros = Math.max(0, 8 - head.length - tailGroups);
    groups = head;
    for (let i = 0; i < zeros && groups.length < 4; i++) groups.push('0');
    for (let i = 0; i < tail.length && groups.length < 4; i++) groups.push(tail[i]!);
  }
  let out = '';
  for (let i = 0; i < 4; i++) {
    const g = groups[i] ?? '0';
    const v = Number.parseInt(g, 16);
    // Anything unparseable keeps its raw text: still one bounded key, never a throw.
    out += (Number.isNaN(v) || v < 0 || v > 0xffff ? g.slice(0, 4) : v.toString(16)) + ':';
  }
  return out + ':/64';
}

import { describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.js';
import { clientIpKey, ipv6SubnetOption, ProxyCheck, type ProxySetting } from './client-ip.js';

describe('clientIpKey', () => {
  test.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:0::/56'],
    ['2001:db8:1:2ff:ffff:ffff:ffff:ffff', '2001:db8:1:200::/56'],
    ['2001:0DB8:0001:02AB::1', '2001:db8:1:200::/56'],
    ['2001:db8::1', '2001:db8:0:0::/56'],
    ['::1', '0:0:0:0::/56'],
    ['::', '0:0:0:0::/56'],
    ['fe80::1%eth0', 'fe80:0:0:0::/56'],
    ['[2001:db8:1:2aa::9]', '2001:db8:1:200::/56'],
    ['64:ff9b::198.51.100.1', '64:ff9b:0:0::/56'],
    ['::198.51.100.1', '0:0:0:0::/56'],
    ['1:2:3:4:5:6:198.51.100.1', '1:2:3:0::/56'],
    [undefined, 'unknown'],
    ['', 'unknown'],
  ])('%s → %s (default /56)', (ip, key) => {
    expect(clientIpKey(ip)).toBe(key);
  });

  test('the prefix length is honoured, down to the bit', () => {
    const ip = '2001:db8:abcd:ef12:3456:789a:bcde:f012';
    expect(clientIpKey(ip, 64)).toBe('2001:db8:abcd:ef12::/64');
    expect(clientIpKey(ip, 60)).toBe('2001:db8:abcd:ef10::/60');
    expect(clientIpKey(ip, 56)).toBe('2001:db8:abcd:ef00::/56');
    expect(clientIpKey(ip, 48)).toBe('2001:db8:abcd::/48');
    expect(clientIpKey(ip, 33)).toBe('2001:db8:8000::/33');
    expect(clientIpKey(ip, 32)).toBe('2001:db8::/32');
  });

  test('addresses inside one prefix share a key; a neighbouring prefix does not', () => {
    const a = clientIpKey('2001:db8:1:2300::1', 56);
    expect(clientIpKey('2001:db8:1:23ff:ffff::9', 56)).toBe(a);
    expect(clientIpKey('2001:db8:1:2400::1', 56)).not.toBe(a);
    expect(clientIpKey('2001:db8:1:2300::1', 64)).not.toBe(clientIpKey('2001:db8:1:2301::1', 64));
    // IPv4 is never grouped.
    expect(clientIpKey('198.51.100.1', 32)).toBe('198.51.100.1');
    expect(clientIpKey('::ffff:198.51.100.1', 32)).toBe('198.51.100.1');
  });

  test('garbage yields a bounded key and never throws', () => {
    for (const s of [
      ':::::::',
      'zz:zz::',
      ':'.repeat(1000),
      'g'.repeat(5000) + ':',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      '1:2:3:4:5:6:7::8',
      '1:2.3.4.5',
      '[::1',
    ]) {
      const k = clientIpKey(s);
      expect(k.length).toBeLessThanOrEqual(45);
      expect(k.length).toBeGreaterThan(0);
    }
  });

  test('ipv6Subnet: 32–64 integers, ConfigError naming the path', () => {
    expect(ipv6SubnetOption(undefined, 'rateLimit.ipv6Subnet')).toBe(56);
    expect(ipv6SubnetOption(32, 'p')).toBe(32);
    expect(ipv6SubnetOption(64, 'p')).toBe(64);
    for (const bad of [31, 65, 56.5, '56', null, Number.NaN]) {
      expect(() => ipv6SubnetOption(bad, 'rateLimit.ipv6Subnet')).toThrow(ConfigError);
      expect(() => ipv6SubnetOption(bad, 'rateLimit.ipv6Subnet')).toThrow(/^rateLimit\.ipv6Subnet: expected/);
    }
  });
});

describe('ProxyCheck', () => {
  const setting = (trust: ProxySetting['trust']): ProxySetting => ({
    trust,
    option: 'trust',
    advice: 'fix it',
  });
  const sink = () => {
    const lines: Array<{ option: string; problem: string; id: string | undefined }> = [];
    return {
      lines,
      misconfigured: (option: string, problem: string, id?: string) => lines.push({ option, problem, id }),
    };
  };
  const req = (trust: ProxySetting | undefined, xff?: string) => ({
    reads: 0,
    header(name: string) {
      this.reads++;
      return name === 'x-forwarded-for' ? xff : undefined;
    },
    proxySetting: () => trust,
  });

  test('X-Forwarded-For with no proxy trusted: one report, then nothing is read', () => {
    const s = sink();
    const pc = new ProxyCheck(s);
    pc.check(req(setting('none')));
    expect(pc.done).toBe(false);
    expect(s.lines).toHaveLength(0);
    pc.check(req(setting('none'), '198.51.100.1'));
    expect(pc.done).toBe(true);
    expect(s.lines).toEqual([
      {
        option: 'trust',
        problem: expect.stringMatching(/X-Forwarded-For.*fix it$/),
        id: 'proxy:x-forwarded-for',
      },
    ]);
  });

  test('trust-all reported at the first request; a header then ends the checks quietly', () => {
    const s = sink();
    const pc = new ProxyCheck(s);
    pc.check(req(setting('all')));
    expect(s.lines.map((l) => l.id)).toEqual(['proxy:trust-all']);
    pc.check(req(setting('all'), '198.51.100.1'));
    expect(pc.done).toBe(true);
    expect(s.lines).toHaveLength(1);
  });

  test('a counted proxy setting is fine; a framework without one ends the checks at once', () => {
    const s = sink();
    const pc = new ProxyCheck(s);
    pc.check(req(setting('some'), '198.51.100.1'));
    expect(pc.done).toBe(true);
    const none = new ProxyCheck(s);
    none.check(req(undefined, '198.51.100.1'));
    expect(none.done).toBe(true);
    expect(s.lines).toHaveLength(0);
  });
});

import { describe, expect, test } from 'vitest';
import { clientIpKey } from './client-ip.js';

describe('clientIpKey', () => {
  test.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['[2001:db8:1:2::9]', '2001:db8:1:2::/64'],
    [undefined, 'unknown'],
    ['', 'unknown'],
  ])('%s → %s', (ip, key) => {
    expect(clientIpKey(ip)).toBe(key);
  });

  test('garbage yields a bounded key and never throws', () => {
    for (const s of [':::::::', 'zz:zz::', ':'.repeat(1000), 'g'.repeat(5000) + ':']) {
      const k = clientIpKey(s);
      expect(k.length).toBeLessThan(40);
    }
  });
});

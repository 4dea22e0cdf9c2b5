import type { ProxySetting, ProxyTrust } from '../rate-limit/client-ip.js';

/**
 * The three settings a framework's proxy option can amount to, made once per adapter:
 * `option` as a user writes it, `advice` for the warnings (`allAdvice` for trusting every
 * proxy, when the fix differs there).
 */
export function proxySettings(
  option: string,
  advice: string,
  allAdvice: string = advice,
): Readonly<Record<ProxyTrust, ProxySetting>> {
  const make = (trust: ProxyTrust, a: string): ProxySetting => Object.freeze({ trust, option, advice: a });
  return Object.freeze({
    none: make('none', advice),
    some: make('some', advice),
    all: make('all', allAdvice),
  });
}

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ConfigError, isConfigError } from '../errors.js';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  test.each([
    [250, 250],
    [0, 0],
    ['250ms', 250],
    ['2s', 2000],
    ['1.5s', 1500],
    ['1m', 60_000],
    ['1h', 3_600_000],
  ])('%s → %s ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test.each([
    ['soon'],
    [''],
    ['-1s'],
    ['1 day'],
    ['1e3s'],
    ['1..2s'],
    ['.s'],
    [-5],
    [Number.NaN],
    [Infinity],
    [null],
    [{}],
    ['5 s'],
    ['5sec'],
  ])('rejects %s with a ConfigError naming the path', (input) => {
    let err: unknown;
    try {
      parseDuration(input, 'rateLimit.window');
    } catch (e) {
      err = e;
    }
    expect(isConfigError(err)).toBe(true);
    expect((err as ConfigError).message).toMatch(/^rateLimit\.window: expected a/);
    expect((err as ConfigError).code).toBe('INVALID_OPTION');
  });

  test('fuzz: every input parses to a finite non-negative number or throws the documented error', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.anything(), fc.string(), fc.stringMatching(/^[0-9.]{0,6}(ms|s|m|h|x)?$/)),
        (v) => {
          try {
            const ms = parseDuration(v, 'x');
            expect(Number.isFinite(ms) && ms >= 0).toBe(true);
          } catch (e) {
            expect(e).toBeInstanceOf(ConfigError);
            expect((e as ConfigError).path).toBe('x');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

import { describe, expect, test } from 'vitest';
import { sameOptions } from './sameOptions.js';

describe('sameOptions', () => {
  test('plain objects by content, key order and undefined members aside', () => {
    expect(sameOptions({ a: 1, b: { c: '2s' } }, { b: { c: '2s' }, a: 1 })).toBe(true);
    expect(sameOptions({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(sameOptions({ a: 1 }, { a: 1, b: undefined })).toBe(true);
    expect(sameOptions({ a: 1 }, { a: 2 })).toBe(false);
    expect(sameOptions({ a: 1 }, { a: 1, b: 0 })).toBe(false);
    expect(sameOptions({ a: 1, c: 0 }, { a: 1, b: 0 })).toBe(false);
  });

  test('arrays by position', () => {
    expect(sameOptions([{ limit: 1 }, { limit: 2 }], [{ limit: 1 }, { limit: 2 }])).toBe(true);
    expect(sameOptions([{ limit: 1 }, { limit: 2 }], [{ limit: 2 }, { limit: 1 }])).toBe(false);
    expect(sameOptions([1], [1, 2])).toBe(false);
    expect(sameOptions([1], { 0: 1 })).toBe(false);
  });

  test('functions and class instances by identity', () => {
    const f = () => 'k';
    expect(sameOptions({ key: f }, { key: f })).toBe(true);
    expect(sameOptions({ key: f }, { key: () => 'k' })).toBe(false);
    class Store {}
    const s = new Store();
    expect(sameOptions({ store: s }, { store: s })).toBe(true);
    expect(sameOptions({ store: s }, { store: new Store() })).toBe(false);
  });

  test('scalars, NaN, null and undefined', () => {
    expect(sameOptions(Number.NaN, Number.NaN)).toBe(true);
    expect(sameOptions(false, undefined)).toBe(false);
    expect(sameOptions(null, undefined)).toBe(false);
    expect(sameOptions(null, {})).toBe(false);
    expect(sameOptions('1m', 60_000)).toBe(false);
  });

  test('a cycle counts as changed instead of overflowing the stack', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    const b: Record<string, unknown> = {};
    b.self = b;
    expect(sameOptions(a, b)).toBe(false);
    expect(sameOptions(a, a)).toBe(true);
  });
});

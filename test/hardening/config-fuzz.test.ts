/**
 * Fuzzing the duration parser and the option validator: any input either builds or throws
 * a ConfigError (code INVALID_OPTION, message starting with the option path). Never a
 * TypeError from inside a validator, never a half-built instance left running.
 */
import { ConfigError, isConfigError, parseDuration, type RoutePolicy } from '@breakwater/core';
import { breakwater as expressBreakwater } from '@breakwater/express';
import { breakwater as fastifyBreakwater } from '@breakwater/fastify';
import { breakwater as honoBreakwater } from '@breakwater/hono';
import { breakwater as koaBreakwater } from '@breakwater/koa';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';

const circular: Record<string, unknown> = { a: 1 };
circular.self = circular;

/** Values that have broken validators elsewhere: odd prototypes, odd JSON, odd numbers. */
const hostile = fc.constantFrom<unknown>(
  Symbol('s'),
  10n,
  Object.create(null),
  circular,
  new Date(Number.NaN),
  new Map([[1, 2]]),
  () => 1,
  [],
  [[]],
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  Number.MAX_SAFE_INTEGER + 2,
  1e308,
  Number.MIN_VALUE,
  '',
  ' ',
  '\u0000',
  'x'.repeat(5000),
  null,
  undefined,
  true,
);

const anyValue = fc.oneof(fc.anything({ maxDepth: 2 }), hostile);

const durationish = fc.oneof(
  fc.nat(),
  fc.double(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(
    '250ms',
    '2s',
    '1m',
    '1h',
    '1.5s',
    '0ms',
    '',
    '.s',
    '1e3s',
    '-1s',
    'soon',
    '1.2.3s',
    '2 s',
    ' 2s',
    '2S',
    '1d',
    '00001s',
    '.5m',
    '5.m',
    '99999999999999999999h',
    'Infinityms',
    'NaNs',
  ),
  fc.stringMatching(/^[0-9.e+-]{0,8}(ms|s|m|h|d|)$/),
  fc.string(),
  anyValue,
);

/** The documented failure: a ConfigError whose message begins with the option path. */
function expectConfigError(e: unknown, roots: RegExp): void {
  if (!isConfigError(e)) throw new Error(`not a ConfigError: ${e instanceof Error ? e.stack : String(e)}`);
  expect(e).toBeInstanceOf(ConfigError);
  expect(e.code).toBe('INVALID_OPTION');
  expect(e.path).toMatch(roots);
  expect(e.message.startsWith(`${e.path}: expected `)).toBe(true);
}

describe('parseDuration', () => {
  test('any value parses to a finite number >= 0, or throws a ConfigError naming the path', () => {
    fc.assert(
      fc.property(durationish, (v) => {
        let ms: number;
        try {
          ms = parseDuration(v, 'fuzz.window');
        } catch (e) {
          expectConfigError(e, /^fuzz\.window$/);
          return;
        }
        expect(Number.isFinite(ms)).toBe(true);
        expect(ms).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 3000 },
    );
  });

  test('the documented forms parse exactly; look-alikes are refused', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.constantFrom(['ms', 1], ['s', 1000], ['m', 60_000], ['h', 3_600_000]),
        (n, [unit, f]) => {
          expect(parseDuration(`${n}${unit}`)).toBe(n * (f as number));
        },
      ),
    );
    for (const bad of ['1e3s', '-1s', '2 s', '2S', '1d', 'Infinityms', '1.2.3s', '.s'])
      expect(() => parseDuration(bad, 'd')).toThrow(ConfigError);
  });
});

const windowArb = fc.record(
  {
    limit: fc.oneof(fc.integer({ min: -2, max: 1000 }), anyValue),
    window: durationish,
    algorithm: fc.oneof(fc.constantFrom('token-bucket', 'sliding-window', 'fixed-window', 'leaky'), anyValue),
    burst: fc.oneof(fc.integer({ min: -1, max: 100 }), anyValue),
    name: fc.oneof(fc.constantFrom('per-x', 'a"b', 'ünï', ''), fc.string(), anyValue),
    key: fc.oneof(
      fc.constantFrom<unknown>('ip', { header: 'x-api-key' }, { header: '' }, { cookie: 'x' }, () => 'k'),
      anyValue,
    ),
    cost: fc.oneof(
      fc.double(),
      fc.constant(() => 2),
      anyValue,
    ),
    onStoreError: fc.oneof(fc.constantFrom('allow', 'deny', 'memory', 'explode'), anyValue),
    headers: fc.oneof(fc.boolean(), anyValue),
    limt: anyValue,
  },
  { requiredKeys: [] },
);

const breakerArb = fc.oneof(
  fc.string(),
  fc.record(
    {
      failureRateThreshold: fc.oneof(fc.double({ min: -1, max: 2 }), anyValue),
      consecutiveFailures: fc.oneof(fc.integer({ min: -1, max: 20 }), anyValue),
      minimumCalls: fc.oneof(fc.integer({ min: -1, max: 20 }), anyValue),
      window: fc.oneof(
        fc.record({
          kind: fc.constantFrom('count', 'time', 'other'),
          size: fc.oneof(fc.integer({ min: -1, max: 200 }), durationish),
        }),
        anyValue,
      ),
      slowCallDuration: durationish,
      slowCallRateThreshold: fc.oneof(fc.double({ min: -1, max: 2 }), anyValue),
      openFor: durationish,
      openForMax: durationish,
      halfOpenMaxCalls: fc.oneof(fc.integer({ min: -1, max: 5 }), anyValue),
      successThreshold: fc.oneof(fc.integer({ min: -1, max: 5 }), anyValue),
      isFailure: fc.oneof(
        fc.constant(() => true),
        anyValue,
      ),
    },
    { requiredKeys: [] },
  ),
  anyValue,
);

const policyArb = fc.record(
  {
    name: fc.oneof(fc.string(), anyValue),
    timeout: fc.oneof(
      durationish,
      fc.record(
        { after: durationish, status: fc.oneof(fc.constantFrom(503, 504, 500), anyValue) },
        { requiredKeys: [] },
      ),
      fc.constant(false),
    ),
    rateLimit: fc.oneof(windowArb, fc.array(windowArb, { maxLength: 3 }), fc.constant(false), anyValue),
    circuitBreaker: fc.oneof(breakerArb, fc.constant(false)),
    bulkhead: fc.oneof(
      fc.record(
        {
          maxConcurrent: fc.oneof(fc.integer({ min: -1, max: 50 }), anyValue),
          maxQueue: fc.oneof(fc.integer({ min: -1, max: 50 }), anyValue),
          queueTimeout: durationish,
        },
        { requiredKeys: [] },
      ),
      fc.constant(false),
      anyValue,
    ),
    onReject: fc.oneof(
      fc.constant(() => {}),
      anyValue,
    ),
    retries: anyValue,
  },
  { requiredKeys: [] },
);

function hasNonObjectBreaker(b: unknown): boolean {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return false;
  return Object.values(b).some(
    (v) => v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v)),
  );
}

const factories = [
  ['express', expressBreakwater],
  ['koa', koaBreakwater],
  ['fastify', fastifyBreakwater],
  ['hono', honoBreakwater],
] as const;

describe.each(factories)('%s adapter', (_name, make) => {
  test('route(policy): any policy builds or throws a ConfigError starting with its option path', async () => {
    const bw = make({ registry: new Registry() });
    try {
      fc.assert(
        fc.property(fc.oneof(policyArb, anyValue), (policy) => {
          try {
            bw.route(policy as RoutePolicy as never);
          } catch (e) {
            expectConfigError(e, /^route($|[.[])/);
          }
        }),
        { numRuns: 1500 },
      );
    } finally {
      await bw.close();
    }
  });

  test('breakwater(options): any options build or throw a ConfigError starting with its option path', async () => {
    const optionsArb = fc.record(
      {
        prefix: fc.oneof(fc.constantFrom('app_', 'bad prefix', ''), anyValue),
        defaults: fc.oneof(policyArb, anyValue),
        routes: fc.oneof(
          fc.dictionary(
            fc.oneof(
              fc.constantFrom('GET /a', '/b', '*', 'FETCH /x', 'GET', 'GET  /c', 'get /d', 'POST /e/:id'),
              fc.string(),
            ),
            fc.oneof(policyArb, anyValue),
            { maxKeys: 3 },
          ),
          anyValue,
        ),
        breakers: fc.oneof(fc.dictionary(fc.string(), breakerArb, { maxKeys: 2 }), anyValue),
        store: anyValue,
        metrics: fc.oneof(fc.boolean(), anyValue),
        health: fc.oneof(
          fc.record({ timeout: durationish, cacheFor: durationish }, { requiredKeys: [] }),
          anyValue,
        ),
        clock: anyValue,
        unknownOption: anyValue,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(optionsArb, async (options) => {
        let bw: ReturnType<typeof make> | undefined;
        try {
          // Non-object breaker entries are finding F2, pinned by the deterministic test below.
          if (hasNonObjectBreaker(options.breakers)) return;
          bw = make({ ...options, registry: new Registry() } as never);
        } catch (e) {
          expectConfigError(e, /^(breakwater|store|health)($|[.[])/);
        }
        await bw?.close();
      }),
      { numRuns: 1500 },
    );
  });
});

// Finding F2 (SECURITY.md): a `breakers` entry that is not an object is not refused with a ConfigError:
// null crashes BreakerRegistry.create with a TypeError (`options.clock` of null), and 5,
// true or [] are silently taken as "default options".
describe.each(factories)('%s: breakwater({ breakers })', (_name, make) => {
  test.each([null, 5, true, []])(
    'a breaker entry of %j throws a ConfigError naming breakwater.breakers.x',
    async (value) => {
      let bw: ReturnType<typeof make> | undefined;
      let err: unknown;
      try {
        bw = make({ registry: new Registry(), breakers: { x: value as never } });
      } catch (e) {
        err = e;
      }
      await bw?.close();
      expectConfigError(err, /^breakwater\.breakers\.x$/);
    },
  );
});

// Finding F4 (SECURITY.md, fixed in a13ac9b): the settings windows share were compared by
// identity, so `key: { header: 'x-api-key' }` written out on each window was refused as
// "not the same key".
describe.each(factories)('%s: rateLimit windows', (_name, make) => {
  test('the same { header } key written out on every window is accepted', async () => {
    const bw = make({ registry: new Registry() });
    try {
      expect(() =>
        bw.route({
          rateLimit: [
            { limit: 10, window: '1s', key: { header: 'x-api-key' } },
            { limit: 1000, window: '1h', key: { header: 'X-API-Key' } },
          ],
        }),
      ).not.toThrow();
    } finally {
      await bw.close();
    }
  });
});

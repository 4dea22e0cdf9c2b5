/**
 * The outbound-pacing scenario, short: a partner API in a child process allowing 50 req/s,
 * 150 calls/s offered. Unpaced, the partner answers 429 to most calls; paced statically at
 * the right rate or adaptively from a rate 4× too high, 429s vanish and the pool delivers
 * the partner's rate, refusing the excess locally, typed and at once. Against a partner
 * that sends only 429 + Retry-After (no rate-limit headers), the 429s still all but vanish.
 */
import { describe, expect, test } from 'vitest';
// @ts-expect-error: a plain ES module without types
import { run } from '../../examples/load/beyond/outbound-pacing.mjs';

interface Row {
  variant: string;
  offered: number;
  'sent upstream': number;
  '429s': number;
  'ok /s': number;
  'refused locally': number;
  'other errors': number;
  'pace at end /s': number | string;
}
interface Result {
  rows: Row[];
  checks: Array<{ name: string; pass: boolean; value: string; want: string }>;
}

describe('outbound pacing scenario', () => {
  test('adaptive pacing set too high stops the 429s and converges to the partner rate', {
    timeout: 60_000,
  }, async () => {
    const r = (await run({ quick: true, seconds: 3 })) as Result;
    const failed = r.checks.filter((c) => !c.pass).map((c) => `${c.name}: ${c.value} (want ${c.want})`);
    expect(failed).toEqual([]);
    const [none, fixed, adaptive, blind] = r.rows as [Row, Row, Row, Row];
    expect(none['429s']).toBeGreaterThan(none.offered * 0.4);
    expect(fixed['429s']).toBeLessThanOrEqual(2);
    expect(adaptive['429s']).toBeLessThanOrEqual(5);
    // The partner sees about its own rate from either paced client, three times that unpaced.
    expect(adaptive['sent upstream']).toBeLessThan(none['sent upstream'] / 2);
    expect(adaptive['ok /s']).toBeGreaterThan(40);
    expect(adaptive['pace at end /s']).toBeLessThanOrEqual(50);
    expect(adaptive['refused locally'] + adaptive['sent upstream']).toBe(adaptive.offered);
    expect(adaptive['other errors']).toBe(0);
    expect(blind['429s']).toBeLessThan(none['429s'] / 5);
  });
});

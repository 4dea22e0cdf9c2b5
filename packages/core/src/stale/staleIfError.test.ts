import { describe, expect, test } from 'vitest';
import type { FallbackContext } from '../guard/fallback.js';
import { type RecordedAnswer, staleIfError } from './staleIfError.js';

const clock = { t: 1_700_000_000_000, now: () => clock.t, setTimeout: () => 0, clearTimeout: () => {} };

function answer(over: Partial<RecordedAnswer> = {}): RecordedAnswer {
  return {
    method: 'GET',
    path: '/items?page=1',
    headers: {},
    req: {},
    status: 200,
    responseHeaders: { 'content-type': 'application/json' },
    body: '{"items":[]}',
    ...over,
  };
}

function ask(path = '/items?page=1', headers: Record<string, string> = {}): FallbackContext {
  return {
    reason: 'circuit_open',
    method: 'GET',
    route: '/items',
    path,
    headers,
    signal: new AbortController().signal,
    req: {},
  } as FallbackContext;
}

describe('staleIfError: what is remembered', () => {
  test('a 2xx GET answer is served back with Age, without its connection headers', async () => {
    const f = staleIfError({ maxAge: '1m', clock });
    f.recorder.record(
      answer({ responseHeaders: { 'content-type': 'application/json', 'content-length': '12' } }),
    );
    clock.t += 30_500;
    const a = await f(ask());
    expect(a).toEqual({
      status: 200,
      headers: { 'content-type': 'application/json', Age: '30' },
      body: '{"items":[]}',
    });
    expect(await f(ask('/items?page=2'))).toBeUndefined();
  });

  test('never after maxAge', async () => {
    const f = staleIfError({ maxAge: '10s', clock });
    f.recorder.record(answer());
    clock.t += 10_001;
    expect(await f(ask())).toBeUndefined();
  });

  test.each([
    ['a 500', answer({ status: 500 })],
    ['a 304', answer({ status: 304 })],
    ['a POST', answer({ method: 'POST' })],
    ['Cache-Control: no-store', answer({ responseHeaders: { 'Cache-Control': 'max-age=0, no-store' } })],
    ['Cache-Control: private', answer({ responseHeaders: { 'cache-control': 'private' } })],
    ['an answer setting a cookie', answer({ responseHeaders: { 'set-cookie': ['sid=1'] } })],
    ['the answer to a request with Authorization', answer({ headers: { authorization: 'Bearer x' } })],
    ['a body over maxBodyBytes', answer({ body: 'x'.repeat(2049) })],
  ])('%s is not remembered', async (_, a) => {
    const f = staleIfError({ maxAge: '1m', maxBodyBytes: 2048, clock });
    f.recorder.record(a);
    expect(await f(ask())).toBeUndefined();
  });

  test('with Authorization, an answer marked public, or a route keying its own copies, is remembered', async () => {
    const pub = staleIfError({ maxAge: '1m', clock });
    pub.recorder.record(
      answer({
        headers: { authorization: 'Bearer x' },
        responseHeaders: { 'cache-control': 'public, max-age=5' },
      }),
    );
    expect((await pub(ask()))?.status).toBe(200);

    const byUser = staleIfError({ maxAge: '1m', clock, key: (c) => `${c.headers.authorization}:${c.path}` });
    byUser.recorder.record(answer({ headers: { authorization: 'Bearer a' }, body: 'for a' }));
    expect((await byUser(ask('/items?page=1', { authorization: 'Bearer a' })))?.body).toBe('for a');
    expect(await byUser(ask('/items?page=1', { authorization: 'Bearer b' }))).toBeUndefined();
  });

  test('maxEntries bounds the copies: the oldest goes first', async () => {
    const f = staleIfError({ maxAge: '1h', maxEntries: 3, clock });
    for (let i = 0; i < 10; i++) f.recorder.record(answer({ path: `/p/${i}`, body: String(i) }));
    const served = [];
    for (let i = 0; i < 10; i++) served.push((await f(ask(`/p/${i}`)))?.body);
    expect(served).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      '7',
      '8',
      '9',
    ]);
  });

  test('bytes are served back as bytes', async () => {
    const f = staleIfError({ maxAge: '1m', clock });
    f.recorder.record(answer({ body: new Uint8Array([0, 1, 255]) }));
    expect(Buffer.from((await f(ask()))?.body as Uint8Array)).toEqual(Buffer.from([0, 1, 255]));
  });
});

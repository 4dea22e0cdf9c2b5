import { describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.js';
import { RouteTable } from './RouteTable.js';

describe('RouteTable', () => {
  const t = new RouteTable<string>();
  t.add('GET /api/users', 'list');
  t.add('GET /api/users/:id', 'one');
  t.add('POST /api/users/:id', 'update');
  t.add('/api/users/:id/avatar', 'avatar-any');
  t.add('GET /api/files/*path', 'files');
  t.add('GET /', 'root');
  t.add('*', 'fallback');

  test.each([
    ['GET', '/api/users', 'list'],
    ['GET', '/api/users/', 'list'],
    ['HEAD', '/api/users', 'list'],
    ['GET', '/api/users/42', 'one'],
    ['GET', '/api/users/42?x=1', 'one'],
    ['POST', '/api/users/42', 'update'],
    ['DELETE', '/api/users/42/avatar', 'avatar-any'],
    ['GET', '/api/files/a/b/c.txt', 'files'],
    ['GET', '/', 'root'],
    ['GET', '/nope', 'fallback'],
    ['DELETE', '/api/users/42', 'fallback'],
  ])('%s %s → %s', (method, path, expected) => {
    expect(t.match(method, path)).toBe(expected);
  });

  test('get looks up an exact method and pattern without matching', () => {
    expect(t.get(undefined, '/api/users/:id/avatar')).toBe('avatar-any');
    expect(t.get('GET', '/api/users/:id')).toBe('one');
    expect(t.get('GET', '/api/users/:id/avatar')).toBeUndefined();
    expect(t.get('GET', '/nowhere/:x')).toBeUndefined();
  });

  test('duplicates and malformed keys are configuration errors', () => {
    expect(() => t.add('GET /api/users', 'again')).toThrow(ConfigError);
    expect(() => t.add('FETCH /x', 'x')).toThrow(/expected a key like 'GET \/path'/);
    expect(() => t.add('GET api', 'x')).toThrow(ConfigError);
  });
});

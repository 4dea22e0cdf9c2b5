import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import { describe, expect, test } from 'vitest';
import { routePattern } from './route-pattern.js';

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s', (_name, express) => {
  test('mount parameters come back as names, never values', async () => {
    const app = express();
    const seen = new Set<string | undefined>();
    const posts = express.Router({ mergeParams: true });
    posts.get('/:pid', (req, res) => {
      seen.add(routePattern(req));
      res.send('ok');
    });
    const users = express.Router();
    users.use('/:id/posts', posts);
    app.use('/users', users);
    app.get('/plain/:x', (req, res) => {
      seen.add(routePattern(req));
      res.send('ok');
    });
    for (let i = 0; i < 5; i++) {
      expect((await request(app).get(`/users/${i}/posts/p${i}`)).status).toBe(200);
      expect((await request(app).get(`/plain/${i}`)).status).toBe(200);
    }
    expect([...seen].sort()).toEqual(['/plain/:x', '/users/:id/posts/:pid']);
  });
});

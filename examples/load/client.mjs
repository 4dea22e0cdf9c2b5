/**
 * A small JSON client on node:http with its own keep-alive agent, destroyed by
 * `close()`: the scenarios' admin calls and health probes leave no socket behind.
 */
import http from 'node:http';

export function createClient({ headers: base = {} } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  function request(method, url, { body, headers = {}, timeoutMs = 5_000 } = {}) {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const started = performance.now();
      const req = http.request(
        url,
        {
          method,
          agent,
          headers: {
            ...base,
            ...headers,
            ...(payload !== undefined && {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(payload),
            }),
          },
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            resolve({
              status: res.statusCode,
              headers: res.headers,
              text,
              json,
              ms: performance.now() - started,
            });
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(timeoutMs, () =>
        req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs}ms`)),
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
  return {
    request,
    get: (url, o) => request('GET', url, o),
    put: (url, body, o) => request('PUT', url, { ...o, body }),
    post: (url, body, o) => request('POST', url, { ...o, body }),
    close: () => agent.destroy(),
  };
}

/**
 * The file store behind the proxy: `GET /files/:name?size=N` answers N bytes generated on
 * the fly (never stored, written as the socket drains, with `content-length`), `PUT
 * /files/:name` reads the upload and answers `{ bytes, sha256 }`. It counts the downloads
 * cut short and the bytes it wrote, so a test can see a client leaving reach it.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';

/** The generated content: byte i is `i % 251`, so any slice can be checked. */
export function pattern(offset, length) {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (offset + i) % 251;
  return b;
}

// Every chunk is a prefix of this block of 251 × 261 bytes (about 64 KiB) and starts at a
// multiple of 251, so one buffer serves the whole body.
const BLOCK = pattern(0, 251 * 261);

/**
 * Starts the store on `port` (0: a free one). Resolves with
 * `{ url, stats, close() }`; `stats`: `{ downloads, cutShort, bytesSent, uploads }`.
 */
export async function startFileUpstream({ port = 0, host = '127.0.0.1' } = {}) {
  const stats = { downloads: 0, cutShort: 0, bytesSent: 0, uploads: 0 };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/files\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === '/health') return void res.end('ok');
    if (m === null) {
      res.statusCode = 404;
      return void res.end();
    }
    if (req.method === 'GET') return download(res, Number(url.searchParams.get('size') ?? 1024), stats);
    if (req.method === 'PUT') return upload(req, res, stats);
    res.statusCode = 405;
    res.end();
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    url: `http://${host}:${server.address().port}`,
    stats,
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

function download(res, size, stats) {
  if (!Number.isSafeInteger(size) || size < 0) {
    res.statusCode = 400;
    return void res.end();
  }
  stats.downloads++;
  res.setHeader('content-type', 'application/octet-stream');
  res.setHeader('content-length', size);
  let sent = 0;
  res.on('close', () => {
    if (!res.writableFinished) stats.cutShort++;
  });
  const write = () => {
    // Write until the socket's buffer is full, then wait for it to drain: the reader's pace.
    while (sent < size && !res.destroyed) {
      const n = Math.min(BLOCK.length, size - sent);
      const chunk = BLOCK.subarray(0, n);
      sent += n;
      stats.bytesSent += n;
      if (sent === size) return void res.end(chunk);
      if (!res.write(chunk)) return void res.once('drain', write);
    }
  };
  if (size === 0) res.end();
  else write();
}

function upload(req, res, stats) {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (c) => {
    bytes += c.length;
    hash.update(c);
  });
  req.on('end', () => {
    stats.uploads++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
  });
}

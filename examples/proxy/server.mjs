#!/usr/bin/env node
/**
 * `node proxy/server.mjs`: the streaming proxy (PORT, default 3100) in front of the file
 * store at UPSTREAM_URL, or in front of one it starts itself when UPSTREAM_URL is unset.
 *
 *   curl -o /dev/null 'localhost:3100/files/big.bin?size=1073741824'   # 1 GiB, memory flat
 *   curl -T some.file localhost:3100/files/some.file                    # a streamed upload
 */
import { startProxy } from './app.mjs';
import { startFileUpstream } from './upstream.mjs';

const store = process.env.UPSTREAM_URL ? undefined : await startFileUpstream();
const proxy = await startProxy({
  upstream: process.env.UPSTREAM_URL ?? store.url,
  port: Number(process.env.PORT ?? 3100),
  host: process.env.HOST ?? '127.0.0.1',
});
console.log(JSON.stringify({ event: 'listening', service: 'proxy', url: proxy.url, upstream: store?.url }));

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await proxy.close();
  await store?.close();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

/**
 * The CPU-bound work of /api/heavy-computation, run in a piscina worker thread so it
 * never blocks the event loop that answers /health and the other routes: SHA-256 rounds
 * until `ms` milliseconds of CPU time have been spent.
 */
import { createHash } from 'node:crypto';
import { threadId } from 'node:worker_threads';

export default function heavy({ ms }) {
  const start = performance.now();
  let digest = Buffer.from('breakwater');
  let rounds = 0;
  while (performance.now() - start < ms) {
    for (let i = 0; i < 200; i++) digest = createHash('sha256').update(digest).digest();
    rounds += 200;
  }
  return {
    rounds,
    digest: digest.toString('hex').slice(0, 16),
    thread: threadId,
    ms: performance.now() - start,
  };
}

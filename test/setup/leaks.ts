/**
 * Shared by every test file: a file fails if it leaves an unhandled rejection, an
 * uncaught exception, or more handles keeping the event loop alive (sockets, servers,
 * ref'd timers) than it started with.
 */
import { afterAll, beforeAll, expect } from 'vitest';

const problems: string[] = [];
const onRejection = (reason: unknown) => {
  problems.push(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`);
};
const onException = (err: unknown) => {
  problems.push(`uncaught exception: ${err instanceof Error ? err.stack : String(err)}`);
};

function counts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

function extra(base: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [type, n] of counts()) {
    const before = base.get(type) ?? 0;
    if (n > before && type !== 'TTYWrap' && type !== 'PipeWrap' && type !== 'FSReqCallback')
      out.push(`${type} ×${n - before}`);
  }
  return out;
}

let baseline = new Map<string, number>();

beforeAll(() => {
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  baseline = counts();
});

afterAll(async () => {
  // Closing sockets and servers completes on a later turn of the loop.
  let left = extra(baseline);
  for (let i = 0; i < 40 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
    left = extra(baseline);
  }
  process.off('unhandledRejection', onRejection);
  process.off('uncaughtException', onException);
  expect(problems, 'unhandled errors in this file').toEqual([]);
  expect(left, 'handles left open by this file').toEqual([]);
});

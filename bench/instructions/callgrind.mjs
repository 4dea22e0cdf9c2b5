/**
 * The instructions a Node script executes, counted by valgrind's callgrind: what both
 * instruction counters run, the micro subjects' (`run.mjs`) and the HTTP harness' (`http.mjs`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs `node --predictable <script> <args…>` under callgrind and returns the instruction total.
 * `BW_V8_FLAGS` adds V8 flags: `--no-incremental-marking --no-memory-reducer` takes the GC's
 * time-driven steps out, so a whole-request count repeats to a few instructions in the same
 * checkout on an idle machine (a checkout elsewhere, or load beside it, still moves it by
 * a few per cent: timers fire by the clock).
 */
export function countInstructions(script, args) {
  const dir = mkdtempSync(join(tmpdir(), 'bw-callgrind-'));
  const out = join(dir, 'callgrind.out');
  try {
    execFileSync(
      'valgrind',
      [
        '--tool=callgrind',
        `--callgrind-out-file=${out}`,
        process.execPath,
        // One thread, no concurrent compilation: counts that move by well under 1% between runs
        // for the micro subjects, a few per cent for whole requests (the GC still adapts to time).
        '--predictable',
        ...(process.env.BW_V8_FLAGS ?? '').split(' ').filter(Boolean),
        script,
        ...args,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    // The summary line holds the total instruction count.
    const total = /^summary:\s+(\d+)/m.exec(readFileSync(out, 'utf8'));
    if (!total) throw new Error(`no callgrind summary for ${script} ${args.join(' ')}`);
    return Number(total[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Instructions per unit of work: (I(large) − I(small)) / (large − small), so start-up and warm-up cancel out. */
export function perUnit(count, small, large) {
  return Math.round((count(large) - count(small)) / (large - small));
}

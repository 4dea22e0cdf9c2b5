import { STATUS_CODES } from 'node:http';
import { PROBLEM_CONTENT_TYPE, type Refusal } from '../guard/problem.js';
import { ChaosFaultError } from './ChaosFaultError.js';

/**
 * The answer to a call chaos fails, in the shape of a {@link Refusal} so every adapter can
 * send it (and an `onReject` can render it) the way it sends a policy's refusal. Its
 * `reason` is `'chaos_fault'`: it is not one of the policies' reasons and is never counted
 * in `breakwater_rejections_total` (chaos has a counter of its own).
 */
export function chaosFaultAnswer(
  route: string,
  status: number,
  body: string | Record<string, unknown> | undefined,
): Refusal {
  const title = STATUS_CODES[status] ?? 'Error';
  const problem = {
    type: 'about:blank',
    title,
    status,
    detail: 'A fault injected by chaos testing.',
    code: 'CHAOS_FAULT',
  };
  let contentType = PROBLEM_CONTENT_TYPE;
  let text: string;
  if (typeof body === 'string') {
    contentType = 'text/plain; charset=utf-8';
    text = body;
  } else if (body !== undefined) {
    contentType = 'application/json';
    text = JSON.stringify(body);
  } else text = JSON.stringify(problem);
  return {
    reason: 'chaos_fault',
    status,
    headers: [['Content-Type', contentType]],
    problem,
    body: text,
    error: new ChaosFaultError(route, status),
  };
}

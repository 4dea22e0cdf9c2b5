import type { WireAnswer } from './guard/fallback.js';
import { GuardCall } from './guard/GuardCall.js';
import type { Refusal } from './guard/problem.js';

/** A request with no framework under it, for tests of the guard: its I/O does nothing. */
export abstract class StubCall extends GuardCall {
  clientIp(): string | undefined {
    return '127.0.0.1';
  }
  header(_name: string): string | undefined {
    return undefined;
  }
  requestMethod(): string {
    return 'GET';
  }
  requestPath(): string {
    return '/';
  }
  requestHeaders(): Record<string, string> {
    return {};
  }
  nativeRequest(): unknown {
    return {};
  }
  setHeader(_name: string, _value: string): void {}
  send(_answer: WireAnswer): void {}
  callOnReject(onReject: (...args: unknown[]) => unknown, refusal: Refusal): unknown {
    return onReject(refusal);
  }
  fail(_error: unknown): void {}
  proceed(): void {}
  timedOut(_refusal: Refusal): void {}
  cutOff(): boolean {
    return true;
  }
  sendLate(_answer: WireAnswer): void {}
}

import { GuardCall } from '@breakwater/core/adapter';

/**
 * The smallest adapter: a request that runs `work` as its handler. It lets the micro
 * suite drive the request guard exactly as the Express and Koa adapters do.
 */
export class BenchCall extends GuardCall {
  constructor(guard, work, settle) {
    super(guard);
    this.work = work;
    this.settle = settle;
  }

  /** One request through `guard`; resolves when the handler has ended (or was refused). */
  static run(guard, work) {
    return new Promise((settle) => guard.start(new BenchCall(guard, work, settle)));
  }

  clientIp() {
    return '127.0.0.1';
  }
  header() {
    return undefined;
  }
  nativeRequest() {
    return this;
  }
  setHeader() {}
  refuse(refusal) {
    this.settle(refusal);
  }
  proceed() {
    this.work().then(() => {
      this.finish(200, undefined);
      this.settle();
    });
  }
  timedOut() {}
}

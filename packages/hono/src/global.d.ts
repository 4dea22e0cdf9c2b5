/**
 * `c.get('breakwater')`. This one file is the augmentation for both builds: the ESM and
 * the CommonJS declarations reference it, so a program that loads both (an `.mts` and a
 * `.cts` file) declares it once. Its type is core's context as both builds of core declare it.
 */
declare module 'hono' {
  interface ContextVariableMap {
    /** The request's guard: `signal` and `deadline`, on routes with policies. */
    breakwater?:
      | (import('@breakwater/core', { with: { 'resolution-mode': 'import' }}).BreakwaterContext &
          import('@breakwater/core', { with: { 'resolution-mode': 'require' }}).BreakwaterContext)
      | undefined;
  }
}

export {};

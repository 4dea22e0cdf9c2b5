/**
 * `req.breakwater` on every Express request. This one file is the augmentation for both
 * builds: the ESM and the CommonJS declarations reference it, so a program that loads both
 * (an `.mts` and a `.cts` file) declares the property once. Its type is core's context as
 * both builds of core declare it, so it can be handed to a pool typed by either.
 */
declare global {
  namespace Express {
    interface Request {
      /** The request's guard: `signal` and `deadline`, on routes with policies. */
      breakwater?:
        | (import('@breakwater/core', { with: { 'resolution-mode': 'import' }}).BreakwaterContext &
            import('@breakwater/core', { with: { 'resolution-mode': 'require' }}).BreakwaterContext)
        | undefined;
    }
  }
}

export {};

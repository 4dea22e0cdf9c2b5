/**
 * `request.breakwater` and a route's `config.breakwater`. This one file is the
 * augmentation for both builds: the ESM and the CommonJS declarations reference it, so a
 * program that loads both (an `.mts` and a `.cts` file) declares them once. Their types are
 * core's as both builds of core declare them.
 */

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's guard: `signal` and `deadline`, on routes with policies. */
    breakwater?:
      | (import('@breakwater/core', { with: { 'resolution-mode': 'import' }}).BreakwaterContext &
          import('@breakwater/core', { with: { 'resolution-mode': 'require' }}).BreakwaterContext)
      | undefined;
  }
  interface FastifyContextConfig {
    /** The route's policy, applied by `bw.plugin`; `onReject(refusal, request, reply)`. */
    breakwater?:
      | (import('@breakwater/core', { with: { 'resolution-mode': 'import' }}).RoutePolicy<
          FastifyRequest,
          (
            refusal: import('@breakwater/core', { with: { 'resolution-mode': 'import' }}).Refusal,
            request: FastifyRequest,
            reply: FastifyReply,
          ) => unknown
        > &
          import('@breakwater/core', { with: { 'resolution-mode': 'require' }}).RoutePolicy<
            FastifyRequest,
            (
              refusal: import('@breakwater/core', { with: { 'resolution-mode': 'require' }}).Refusal,
              request: FastifyRequest,
              reply: FastifyReply,
            ) => unknown
          >)
      | undefined;
  }
}

export {};

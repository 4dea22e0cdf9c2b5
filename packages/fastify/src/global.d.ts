/**
 * `request.breakwater` and a route's `config.breakwater`. This one file is the
 * augmentation for both builds: the ESM and the CommonJS declarations reference it, so a
 * program that loads both (an `.mts` and a `.cts` file) declares them once. Their types are
 * core's as both builds of core declare them.
 */
type Context = import('@breakwater/core', { with: { 'resolution-mode': 'import' }}).BreakwaterContext &
  import('@breakwater/core', { with: { 'resolution-mode': 'require' }}).BreakwaterContext;
type OnReject<Refusal, Request, Reply> = (refusal: Refusal, request: Request, reply: Reply) => unknown;
type Policy<Q, P> = import('@breakwater/core', { with: { 'resolution-mode': 'import' }}).RoutePolicy<
  Q,
  OnReject<import('@breakwater/core', { with: { 'resolution-mode': 'import' }}).Refusal, Q, P>
> &
  import('@breakwater/core', { with: { 'resolution-mode': 'require' }}).RoutePolicy<
    Q,
    OnReject<import('@breakwater/core', { with: { 'resolution-mode': 'require' }}).Refusal, Q, P>
  >;

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's guard: `signal` and `deadline`, on routes with policies. */
    breakwater?: Context | undefined;
  }
  interface FastifyContextConfig {
    /** The route's policy, applied by `bw.plugin`; `onReject(refusal, request, reply)`. */
    breakwater?: Policy<FastifyRequest, import('fastify').FastifyReply> | undefined;
  }
}

export {};

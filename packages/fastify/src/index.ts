/**
 * @breakwater/fastify: Breakwater's policies for Fastify 5.
 * @packageDocumentation
 */

export * from '@breakwater/core';
export {
  breakwater,
  type FastifyBreakwater,
  type FastifyBreakwaterOptions,
  type FastifyHealth,
  type FastifyRoutePolicy,
} from './breakwater.js';
export type { FastifyOnReject } from './FastifyCall.js';

/**
 * @breakwater/hono: Breakwater's policies for Hono 4 on @hono/node-server.
 * @packageDocumentation
 */

export * from '@breakwater/core';
export {
  breakwater,
  type HonoBreakwater,
  type HonoBreakwaterOptions,
  type HonoHealth,
  type HonoRoutePolicy,
} from './breakwater.js';
export type { HonoOnReject } from './HonoCall.js';

/**
 * @breakwater/koa: Breakwater's policies for Koa 2 and 3.
 * @packageDocumentation
 */

export * from '@breakwater/core';
export {
  type BreakwaterState,
  breakwater,
  type KoaBreakwater,
  type KoaBreakwaterOptions,
  type KoaRoutePolicy,
} from './breakwater.js';
export type { KoaOnReject } from './KoaCall.js';

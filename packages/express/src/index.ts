/**
 * @breakwater/express: Breakwater's policies for Express 4 and 5.
 * @packageDocumentation
 */

export * from '@breakwater/core';
export {
  breakwater,
  type ExpressBreakwater,
  type ExpressBreakwaterOptions,
  type ExpressRoutePolicy,
} from './breakwater.js';
export type { ExpressOnReject } from './ExpressCall.js';

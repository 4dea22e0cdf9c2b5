/**
 * Loads the observability example app. The example lives outside this TypeScript project
 * (examples/observability has its own tsconfig), so it is imported by URL at run time
 * and typed here by the little the tests use.
 */
import type { ExpressBreakwater } from '@breakwater/express';
import type { Express } from 'express';

export interface ExampleApp {
  app: Express;
  bw: ExpressBreakwater;
  /** The stand-in shared rate-limit store: `down = true` simulates its outage. */
  store: { down: boolean };
}

const APP = new URL('../../examples/observability/app.ts', import.meta.url).href;

export async function loadExampleApp(options: { adminToken?: string } = {}): Promise<ExampleApp> {
  const mod = (await import(/* @vite-ignore */ APP)) as {
    createExampleApp(o: { adminToken?: string }): ExampleApp;
  };
  return mod.createExampleApp(options);
}

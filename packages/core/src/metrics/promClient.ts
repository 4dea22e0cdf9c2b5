import { createRequire } from 'node:module';
import type * as PromClientModule from 'prom-client';

/** The prom-client module, as its types describe it. */
export type PromClient = typeof PromClientModule;

/** Undefined: not tried yet; null: not installed. */
let loaded: PromClient | null | undefined;

/**
 * prom-client, an optional peer: loaded on first use, synchronously, with `require` in
 * the ESM and the CommonJS build alike (prom-client is CommonJS, so an application's
 * `import` of it shares this copy). Undefined when it is not installed, and metrics are
 * then off. Any other failure to load it is thrown.
 */
export function optionalPromClient(): PromClient | undefined {
  if (loaded === undefined) {
    try {
      // tsup's shims give the CommonJS build an `import.meta.url` of its own file.
      loaded = createRequire(import.meta.url)('prom-client') as PromClient;
    } catch (e) {
      if (!isMissing(e)) throw e;
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/** prom-client, for code that runs only with metrics on (so only when it is installed). */
export function promClient(): PromClient {
  const p = optionalPromClient();
  if (p === undefined) throw new Error('prom-client is not installed: Breakwater metrics are off');
  return p;
}

/** True when prom-client itself cannot be found, not when something it requires fails. */
function isMissing(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown } | null;
  return (
    typeof err === 'object' &&
    err !== null &&
    err.code === 'MODULE_NOT_FOUND' &&
    typeof err.message === 'string' &&
    err.message.startsWith("Cannot find module 'prom-client'")
  );
}

// The adapters' request augmentations: referenced projects' declarations leave them out.
/// <reference path="../packages/express/src/global.d.ts" />
/// <reference path="../packages/fastify/src/global.d.ts" />
/// <reference path="../packages/hono/src/global.d.ts" />

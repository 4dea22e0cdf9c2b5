#!/usr/bin/env node
/** `node hono-service/server.mjs`: the demo service on Hono (see ../config/service.yaml). */
import { main } from '../shared/main.mjs';
import { startHonoService } from './app.mjs';

await main('hono-service', startHonoService);

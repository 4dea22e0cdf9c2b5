#!/usr/bin/env node
/** `node fastify-service/server.mjs`: the demo service on Fastify (see ../config/service.yaml). */
import { main } from '../shared/main.mjs';
import { startFastifyService } from './app.mjs';

await main('fastify-service', startFastifyService);

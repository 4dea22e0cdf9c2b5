#!/usr/bin/env node
/** `node koa-service/server.mjs`: the demo service on Koa (see ../config/service.yaml). */
import { main } from '../shared/main.mjs';
import { startKoaService } from './app.mjs';

await main('koa-service', startKoaService);

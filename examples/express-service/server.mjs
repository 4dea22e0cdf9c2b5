#!/usr/bin/env node
/** `node express-service/server.mjs`: the demo service on Express (see ../config/service.yaml). */
import { main } from '../shared/main.mjs';
import { startExpressService } from './app.mjs';

await main('express-service', startExpressService);

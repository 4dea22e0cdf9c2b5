import { defineConfig, type Options } from 'tsup';
import { packageBuild } from '../../tsup.config.base.js';

export default defineConfig({
  ...packageBuild,
  // `c.get('breakwater')` is declared in one file both declaration builds
  // reference, copied to dist/ by the build script (tsup's declaration build clears
  // dist/*.d.ts as it starts): a program holding both the ESM and the CJS declarations then
  // declares them once.
  dts: {
    ...(packageBuild.dts as Exclude<Options['dts'], boolean | string | undefined>),
    banner: '/// <reference path="./global.d.ts" />',
  },
});

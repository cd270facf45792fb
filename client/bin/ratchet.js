#!/usr/bin/env node
'use strict';
// `npx ratchet`: runs the TypeScript CLI through tsx, no build step.
require('tsx/cjs');
require('../cli.ts').runCli();

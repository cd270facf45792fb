#!/usr/bin/env -S node --max-semi-space-size=2
'use strict';
// `npx ratchet`: runs the TypeScript CLI through tsx, no build step.
// --max-semi-space-size=2 (MB; V8's default is 16): every isolate of the process (the main one and the SDK's
// workflow threads) keeps a young generation of up to three semi-spaces, mostly slack in a worker: with 200 tickets
// in flight the workflows process held ~270 MB with the default and ~220 MB with 2, at the same CPU per ticket
// (`npm run bench:scale -- 200`). `npm run worker` starts main.ts with the same flag.
require('tsx/cjs');
require('../cli.ts').runCli();

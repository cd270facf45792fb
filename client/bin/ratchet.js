#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2
'use strict';
// `npx ratchet`: runs the TypeScript CLI through tsx, no build step.
// --max-semi-space-size=2 (MB; V8's default is 16): every isolate of the process (the main one and the SDK's
// workflow threads) keeps a young generation of up to three semi-spaces, mostly slack in a worker: with 200 tickets
// in flight the workflows process held ~270 MB with the default and ~220 MB with 2, at the same CPU per ticket
// (`npm run bench:scale -- 200`). `npm run worker` starts main.ts with the same flag.
// MALLOC_ARENA_MAX=2: glibc's malloc gives each thread that allocates at once an arena of its own, up to 8 per core,
// and keeps what it freed in each; a worker has many such threads (the SDK's Rust core, libuv's pool, the workflow
// thread). With 2 arenas the worker's three processes (the activities process and its git process inherit the
// variable) held 457-481 MB at 200 tickets in flight, against 523-559 MB with glibc's default (`npm run bench:scale --
// 200 200 1`). glibc reads it only when a process starts, hence here; other C libraries ignore it.
require('tsx/cjs');
require('../cli.ts').runCli();

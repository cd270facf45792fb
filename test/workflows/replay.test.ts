import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../helpers/temporal';

const dir = path.join(__dirname, '../fixtures/histories');

describe('recorded histories replay on the current workflow code', function () {
  this.timeout(120_000);

  it('replays every recorded history without a determinism violation', async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.history.pb'));
    assert.ok(files.length >= 8, 'histories are recorded (npm run record-histories -- <scenario>)');
    const bundle = await workflowBundle();
    for (const file of files) {
      const history = temporal.api.history.v1.History.decode(await readFile(path.join(dir, file)));
      // Throws DeterminismViolationError when workflow code changed in a way these histories cannot follow.
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, path.basename(file, '.history.pb'));
    }
  });
});

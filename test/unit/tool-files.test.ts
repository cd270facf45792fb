import assert from 'node:assert/strict';
import { toolFiles, toolOf } from '../../activities/tool-files';

describe('toolFiles: a gate is protected by what its tool reads first (issue 25 item 6)', () => {
  it('adds the makefiles make prefers beside a listed Makefile, in its folder', () => {
    assert.deepEqual(toolFiles({ command: 'sh ci.sh', files: ['build/Makefile'] }), ['build/GNUmakefile', 'build/Makefile', 'build/makefile']);
  });

  it('infers the files from the command when the gate lists none', () => {
    assert.deepEqual(toolFiles({ command: 'make check', files: [] }), ['GNUmakefile', 'Makefile', 'makefile']);
    assert.deepEqual(toolFiles({ command: 'CI=1 go test ./...', files: [] }), ['go.mod', 'go.sum', 'go.work', 'go.work.sum']);
    assert.ok(toolFiles({ command: 'npm test', files: [] }).includes('.npmrc'));
    assert.ok(toolFiles({ command: 'python -m pytest -q', files: [] }).includes('conftest.py'));
  });

  it('infers nothing for a command of no known tool', () => {
    assert.deepEqual(toolFiles({ command: 'test "$(cat x.txt)" = good', files: ['check.sh'] }), []);
  });

  it('reads the tool word past assignments, env and a path', () => {
    assert.equal(toolOf('FOO=1 env /usr/bin/make -j2'), 'make');
    assert.equal(toolOf('python3 -m pytest'), 'pytest');
    assert.equal(toolOf('   '), undefined);
  });
});

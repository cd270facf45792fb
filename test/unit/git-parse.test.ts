import assert from 'node:assert/strict';
import { nulList, parseLsTree, parseStatusPaths, pathsInTheWay } from '../../activities/git';

describe("parsers of git's output", () => {
  it('splits -z output into its fields, dropping the empty ones', () => {
    assert.deepEqual(nulList('a.txt\0dir/b c.txt\0\0'), ['a.txt', 'dir/b c.txt']);
    assert.deepEqual(nulList(''), []);
  });

  it('reads each file of ls-tree -r -z with its blob id, tabs and spaces in names kept', () => {
    const out = [
      '100644 blob 3b18e512dba79e4c8300dd08aeb37f8e728b8dad\tREADME.md',
      '100755 blob e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\tbin/run me.sh',
      '120000 blob 1f7391f92b6a3792204e07e99f71f643cc35e7e1\tdocs/a\tb.md',
      '',
    ].join('\0');
    assert.deepEqual(parseLsTree(out), [
      { path: 'README.md', blob: '3b18e512dba79e4c8300dd08aeb37f8e728b8dad' },
      { path: 'bin/run me.sh', blob: 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391' },
      { path: 'docs/a\tb.md', blob: '1f7391f92b6a3792204e07e99f71f643cc35e7e1' },
    ]);
  });

  it('reads the paths of status --porcelain -z: staged, unstaged and untracked alike', () => {
    assert.deepEqual(parseStatusPaths('M  staged.txt\0 M src/edited.ts\0?? new folder/file.txt\0D  gone.txt\0'), [
      'staged.txt',
      'src/edited.ts',
      'new folder/file.txt',
      'gone.txt',
    ]);
  });

  it('finds the incoming paths a local change is in the way of: the same file, a file in a folder, a folder at a file', () => {
    const incoming = ['app.txt', 'lib', 'docs/guide.md', 'untouched.txt'];
    const changed = ['app.txt', 'lib/local.ts', 'docs', 'other.txt'];
    assert.deepEqual(pathsInTheWay(changed, incoming), ['app.txt', 'lib', 'docs/guide.md']);
    assert.deepEqual(pathsInTheWay([], incoming), []);
    // A shared prefix is not a folder.
    assert.deepEqual(pathsInTheWay(['app.txt.bak', 'libs/x'], incoming), []);
  });
});

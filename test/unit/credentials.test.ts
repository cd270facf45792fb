import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openBox } from '../../activities/box/box';
import { credentialPaths } from '../../activities/box/credentials';
import { createSandboxProbe, findBwrap } from '../../activities/box/sandbox';
import { commandEnv } from '../../activities/env';
import { runCommand } from '../../activities/process';

describe("the worker's credential files in a box", function () {
  let base: string;
  let home: string;
  let key: string;
  const canary = `canary-${process.pid}`;
  beforeEach(() => {
    base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-creds-')));
    home = path.join(base, 'home');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    fs.mkdirSync(path.join(home, '.config', 'tool'), { recursive: true });
    fs.writeFileSync(path.join(home, '.git-credentials'), `https://x:${canary}@github.com\n`);
    fs.writeFileSync(path.join(home, '.ssh', 'id_ed25519'), `${canary}\n`);
    fs.writeFileSync(path.join(home, '.config', 'tool', 'settings'), 'plain\n');
    key = path.join(base, 'client.key');
    fs.writeFileSync(key, `${canary}\n`);
  });
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  it('finds the conventional ones under HOME and the files the worker settings name', async () => {
    const found = await credentialPaths({ HOME: home, TEMPORAL_TLS_CLIENT_KEY_PATH: key, TEMPORAL_CONFIG_FILE: path.join(base, 'missing.yaml') });
    assert.deepEqual(found, { files: [path.join(home, '.git-credentials'), key], folders: [path.join(home, '.ssh')] });
  });

  it('are covered inside the box, while the rest of HOME stays readable', async function () {
    if ((await findBwrap()) === undefined) this.skip();
    const wt = path.join(base, 'wt');
    fs.mkdirSync(wt);
    const box = await openBox(createSandboxProbe(), {
      cwd: wt,
      writable: [wt],
      hidden: [],
      binds: [],
      network: [],
      what: 'the agent',
      workerEnv: { HOME: home, TEMPORAL_TLS_CLIENT_KEY_PATH: key },
    });
    try {
      const r = await runCommand({
        command: `cat '${path.join(home, '.git-credentials')}' '${key}'; ls -A '${path.join(home, '.ssh')}'; cat '${path.join(home, '.config', 'tool', 'settings')}'`,
        cwd: wt,
        env: commandEnv({ protocol: box.env }),
        exactEnv: true,
        prefix: box.prefix,
        timeoutMs: 20_000,
        logPath: path.join(base, 'run.log'),
      });
      assert.ok(!r.tail.includes(canary), r.tail);
      // Covered files read as nothing (bwrap's /dev/null there refuses to open: the box mounts it without devices).
      assert.match(r.tail, /(Permission denied\n)*plain\n$/);
    } finally {
      await box.close();
    }
  });
});

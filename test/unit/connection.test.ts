/**
 * How ratchet reaches Temporal (deploy/connection.ts): the Temporal SDK's environment configuration, as the CLI reads
 * it (Temporal Cloud's API key and mTLS settings, temporal.toml profiles), with the command line's address over it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { temporalTarget } from '../../deploy/connection';
import { BadInputError } from '../../workflows/errors';

describe('temporalTarget: Temporal connection settings from the environment', () => {
  let dir: string;
  let none: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ratchet-connection-'));
    // A config file without a default profile: the machine's own ~/.config/temporalio/temporal.toml must not leak in.
    none = path.join(dir, 'other.toml');
    await writeFile(none, '[profile.other]\naddress = "other.example:7233"\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is the local dev server when nothing is set', () => {
    const t = temporalTarget({ env: { TEMPORAL_CONFIG_FILE: none } });
    assert.deepEqual({ address: t.address, namespace: t.namespace, secure: t.secure }, { address: '127.0.0.1:7233', namespace: 'default', secure: false });
    assert.deepEqual(t.connection, { address: '127.0.0.1:7233' });
  });

  it('takes a Temporal Cloud API key (TLS implied), and the command line address over the environment', () => {
    const env = { TEMPORAL_CONFIG_FILE: none, TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233', TEMPORAL_NAMESPACE: 'ratchet.a1b2c', TEMPORAL_API_KEY: 'key-123' };
    const t = temporalTarget({ env });
    assert.equal(t.address, 'us-east-1.aws.api.temporal.io:7233');
    assert.equal(t.namespace, 'ratchet.a1b2c');
    assert.equal(t.connection.apiKey, 'key-123');
    assert.equal(t.connection.tls, true);
    assert.equal(t.secure, true);
    assert.equal(temporalTarget({ env, address: '10.0.0.5:7233', namespace: 'other' }).connection.address, '10.0.0.5:7233');
    assert.equal(temporalTarget({ env, address: '10.0.0.5:7233', namespace: 'other' }).namespace, 'other');
  });

  it('reads an mTLS client certificate pair and a temporal.toml profile, as the Temporal CLI does', async () => {
    await writeFile(path.join(dir, 'client.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    await writeFile(path.join(dir, 'client.key'), '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n');
    const toml = path.join(dir, 'temporal.toml');
    await writeFile(
      toml,
      [
        '[profile.prod]',
        'address = "ratchet.a1b2c.tmprl.cloud:7233"',
        'namespace = "ratchet.a1b2c"',
        '[profile.prod.tls]',
        `client_cert_path = "${path.join(dir, 'client.pem')}"`,
        `client_key_path = "${path.join(dir, 'client.key')}"`,
        '',
      ].join('\n'),
    );
    const t = temporalTarget({ env: { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod' } });
    assert.equal(t.address, 'ratchet.a1b2c.tmprl.cloud:7233');
    assert.equal(t.namespace, 'ratchet.a1b2c');
    const tls = t.connection.tls as { clientCertPair?: { crt: Uint8Array; key: Uint8Array } };
    assert.match(Buffer.from(tls.clientCertPair?.crt ?? []).toString(), /BEGIN CERTIFICATE/);
    assert.equal(t.secure, true);
  });

  it('names the setting when the configuration cannot be loaded', () => {
    assert.throws(
      () => temporalTarget({ env: { TEMPORAL_CONFIG_FILE: none, TEMPORAL_PROFILE: 'nope' } }),
      (e: Error) => e instanceof BadInputError && /Profile 'nope' not found/.test(e.message) && /TEMPORAL_PROFILE/.test(e.message),
    );
    assert.throws(
      () => temporalTarget({ env: { TEMPORAL_CONFIG_FILE: none, TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'missing.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'missing.key') } }),
      (e: Error) => e instanceof BadInputError && /TEMPORAL_TLS_/.test(e.message),
    );
  });
});

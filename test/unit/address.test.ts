/**
 * The one host:port parser (deploy/address.ts): what the client, the workers and the dev server launcher accept as an
 * address, and what a person reads when a value is not one.
 */
import assert from 'node:assert/strict';
import { DEFAULT_ADDRESS, DEFAULT_PORT, formatAddress, parseAddress, tryParseAddress } from '../../deploy/address';
import { BadInputError } from '../../workflows/errors';

/** The BadInputError message `parseAddress` throws for `value`. */
function refusal(value: string, opts: Parameters<typeof parseAddress>[1] = {}): string {
  try {
    parseAddress(value, opts);
  } catch (err) {
    assert.ok(err instanceof BadInputError, `a BadInputError, not ${String(err)}`);
    return err.message;
  }
  assert.fail(`"${value}" was accepted`);
}

describe('address', () => {
  it('parses a host name, an IPv4 address and a bracketed IPv6 address with a port', () => {
    assert.deepEqual(parseAddress('127.0.0.1:7233'), { host: '127.0.0.1', port: 7233 });
    assert.deepEqual(parseAddress('ratchet.a1b2c.tmprl.cloud:7233'), { host: 'ratchet.a1b2c.tmprl.cloud', port: 7233 });
    assert.deepEqual(parseAddress('temporal:7233'), { host: 'temporal', port: 7233 });
    assert.deepEqual(parseAddress('[::1]:7233'), { host: '::1', port: 7233 });
    assert.deepEqual(parseAddress('[2001:db8::1]:65535'), { host: '2001:db8::1', port: 65535 });
  });

  it('takes the default port when one is given and the value has none, as the Temporal SDK does', () => {
    assert.deepEqual(parseAddress('temporal', { defaultPort: DEFAULT_PORT }), { host: 'temporal', port: 7233 });
    assert.deepEqual(parseAddress('[::1]', { defaultPort: DEFAULT_PORT }), { host: '::1', port: 7233 });
    assert.equal(tryParseAddress('temporal'), undefined);
  });

  it('formats the inverse of what it parses, bracketing an IPv6 host', () => {
    for (const value of [DEFAULT_ADDRESS, 'temporal:7233', '[::1]:9464', '[2001:db8::1]:1']) assert.equal(formatAddress(parseAddress(value)), value);
    assert.equal(formatAddress({ host: '::', port: 8233 }), '[::]:8233');
  });

  it('refuses a value that is not host:port, naming the source, the value and the fix', () => {
    assert.equal(
      refusal('9464', { source: '--metrics', example: '0.0.0.0:9464' }),
      '--metrics: "9464" is not host:port; fix: e.g. 0.0.0.0:9464; it has no port',
    );
    assert.match(refusal('http://127.0.0.1:7233'), /^address: "http:\/\/127\.0\.0\.1:7233" is not host:port; fix: e\.g\. 127\.0\.0\.1:7233; drop "http:\/\/"/);
    assert.match(refusal('::1:7233'), /put an IPv6 host in brackets, e\.g\. \[::1\]:7233/);
    assert.match(refusal('temporal:70000'), /port 70000 is not in 1\.\.65535/);
    assert.match(refusal('temporal:0'), /port 0 is not in 1\.\.65535/);
    for (const value of ['', ':7233', 'temporal:', 'temporal:72a3', 'my host:7233', 'user@temporal:7233']) {
      assert.match(refusal(value), /is not host:port; fix: e\.g\. 127\.0\.0\.1:7233/, value);
      assert.equal(tryParseAddress(value, DEFAULT_PORT), undefined, value);
    }
  });
});

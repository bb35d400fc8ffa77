import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/infrastructure/config';
import { temporalConnectionOptions } from '../../src/infrastructure/temporal-connection';

const dir = mkdtempSync(join(tmpdir(), 'lease-costs-tls-'));
const file = (name: string, body: string) => {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
};
const cert = file('client.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const key = file('client.key', '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');
const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n');
const options = (env: NodeJS.ProcessEnv) => temporalConnectionOptions(loadConfig(env, ['client']));

describe('Temporal connection options', () => {
  it('plaintext to a local dev server by default', () => {
    expect(options({})).toEqual({ address: '127.0.0.1:7233' });
  });

  it('TLS with an API key for Temporal Cloud', () => {
    expect(options({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k-123' }))
      .toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: true, apiKey: 'k-123' });
  });

  it('mTLS with a client certificate pair and a private CA, read from the files', () => {
    const o = options({ TEMPORAL_TLS_CERT_PATH: cert, TEMPORAL_TLS_KEY_PATH: key, TEMPORAL_TLS_CA_PATH: ca });
    const tls = o.tls as { clientCertPair: { crt: Buffer; key: Buffer }; serverRootCACertificate: Buffer };
    expect(tls.clientCertPair.crt.toString()).toContain('BEGIN CERTIFICATE');
    expect(tls.clientCertPair.key.toString()).toContain('PRIVATE KEY');
    expect(tls.serverRootCACertificate.toString()).toContain('MIIC');
  });

  it('TEMPORAL_TLS forces it on or off', () => {
    expect(options({ TEMPORAL_TLS: 'true' })).toEqual({ address: '127.0.0.1:7233', tls: true });
    expect(options({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' })).toEqual({ address: '127.0.0.1:7233', apiKey: 'k' });
  });

  it('a half certificate pair or a missing file is a config error naming the variable', () => {
    const problems = (env: NodeJS.ProcessEnv) => {
      try {
        loadConfig(env, ['client']);
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.variable}: ${p.message}`);
      }
    };
    expect(problems({ TEMPORAL_TLS_CERT_PATH: cert })).toEqual(['TEMPORAL_TLS_KEY_PATH: is required with the other half of the client certificate pair']);
    expect(problems({ TEMPORAL_TLS_CERT_PATH: cert, TEMPORAL_TLS_KEY_PATH: join(dir, 'nope.key') })).toEqual([`TEMPORAL_TLS_KEY_PATH: no such file: ${join(dir, 'nope.key')}`]);
    expect(problems({ TEMPORAL_TLS: 'yes' })).toEqual([expect.stringMatching(/^TEMPORAL_TLS: /)]);
  });
});

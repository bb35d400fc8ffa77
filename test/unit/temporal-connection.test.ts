import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
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
const profiles = file(
  'temporal.toml',
  `
[profile.default]
address = "temporal.internal:7233"
namespace = "costs"

[profile.cloud]
address = "costs.a1b2c.tmprl.cloud:7233"
namespace = "costs.a1b2c"
api_key = "profile-api-key"
`,
);
// HOME points nowhere, so no developer's ~/.config/temporalio/temporal.toml leaks into the tests.
const load = (env: NodeJS.ProcessEnv) => loadConfig({ HOME: join(dir, 'no-home'), ...env }, ['client']);
const options = (env: NodeJS.ProcessEnv) => temporalConnectionOptions(load(env));
const problems = (env: NodeJS.ProcessEnv) => {
  try {
    load(env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.variable}: ${p.message}`);
  }
};

describe('Temporal connection through the SDK environment configuration', () => {
  it('plaintext to a local dev server by default', () => {
    const config = load({});
    expect(config.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(config.TEMPORAL_NAMESPACE).toBe('default');
    const o = options({});
    expect(o.address).toBe('127.0.0.1:7233');
    expect(o.tls).toBeUndefined();
    expect(o.apiKey).toBeUndefined();
  });

  it('TLS with an API key for Temporal Cloud (TEMPORAL_API_KEY)', () => {
    expect(options({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k-123' })).toMatchObject({
      address: 'ns.acct.tmprl.cloud:7233',
      tls: true,
      apiKey: 'k-123',
    });
  });

  it('mTLS with a client certificate pair and a private CA, read from the standard variables', () => {
    const o = options({
      TEMPORAL_TLS_CLIENT_CERT_PATH: cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: key,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca,
      TEMPORAL_TLS_SERVER_NAME: 'frontend.internal',
    });
    const tls = o.tls as {
      clientCertPair: { crt: Buffer; key: Buffer };
      serverRootCACertificate: Buffer;
      serverNameOverride: string;
    };
    expect(Buffer.from(tls.clientCertPair.crt).toString()).toContain('BEGIN CERTIFICATE');
    expect(Buffer.from(tls.clientCertPair.key).toString()).toContain('PRIVATE KEY');
    expect(Buffer.from(tls.serverRootCACertificate).toString()).toContain('MIIC');
    expect(tls.serverNameOverride).toBe('frontend.internal');
  });

  it('TEMPORAL_TLS forces it on or off', () => {
    expect(options({ TEMPORAL_TLS: 'true' }).tls).toBeTruthy();
    expect(options({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' })).toMatchObject({ tls: false, apiKey: 'k' });
  });

  it('a profile file gives address and namespace; TEMPORAL_PROFILE picks one; the environment wins', () => {
    expect(load({ TEMPORAL_CONFIG_FILE: profiles })).toMatchObject({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'costs',
    });
    const cloud = load({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'cloud' });
    expect(cloud).toMatchObject({
      TEMPORAL_ADDRESS: 'costs.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'costs.a1b2c',
    });
    expect(temporalConnectionOptions(cloud)).toMatchObject({ tls: true, apiKey: 'profile-api-key' });
    expect(load({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_ADDRESS: '10.0.0.1:7233' }).TEMPORAL_ADDRESS).toBe(
      '10.0.0.1:7233',
    );
  });

  it('the default profile file lives under $XDG_CONFIG_HOME/temporalio (or ~/.config)', () => {
    const xdg = mkdtempSync(join(tmpdir(), 'lease-costs-xdg-'));
    const home = join(xdg, 'temporalio');
    mkdirSync(home);
    writeFileSync(join(home, 'temporal.toml'), '[profile.default]\naddress = "from-xdg:7233"\n');
    expect(load({ XDG_CONFIG_HOME: xdg }).TEMPORAL_ADDRESS).toBe('from-xdg:7233');
  });

  it('gRPC metadata from TEMPORAL_GRPC_META_*', () => {
    expect(options({ TEMPORAL_GRPC_META_X_TENANT: 'isb' }).metadata).toEqual({ 'x-tenant': 'isb' });
  });

  it('a bad profile, file or flag is a config error naming the variable', () => {
    expect(problems({ TEMPORAL_CONFIG_FILE: join(dir, 'nope.toml') })).toEqual([
      `TEMPORAL_CONFIG_FILE: no such file: ${join(dir, 'nope.toml')}`,
    ]);
    expect(problems({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'staging' })).toEqual([
      expect.stringMatching(/^TEMPORAL_PROFILE: Profile 'staging' not found/),
    ]);
    expect(problems({ TEMPORAL_CONFIG_FILE: file('broken.toml', '[profile.default\naddress=') })).toEqual([
      expect.stringMatching(/^TEMPORAL_CONFIG_FILE: /),
    ]);
    expect(
      problems({ TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'nope.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: key }),
    ).toEqual([`TEMPORAL_TLS_CLIENT_CERT_PATH: no such file: ${join(dir, 'nope.pem')}`]);
    expect(problems({ TEMPORAL_TLS: 'yes' })).toEqual(['TEMPORAL_TLS: must be true or false']);
  });
});

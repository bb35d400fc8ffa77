import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from '../../src/infrastructure/config';
import { temporalConnectionOptions } from '../../src/infrastructure/temporal-connection';

const workerEnv = {
  COST_EXPLORER_ROLE_ARN: 'arn:aws:iam::123456789012:role/IsbCostExplorerReader',
  S3_BUCKET_NAME: 'lease-costs-reports',
  EVENT_BUS_NAME: 'isb-events',
  ISB_API_BASE_URL: 'https://isb.example.com/api',
  ISB_JWT_SECRET_PATH: 'isb/jwt',
  DATABASE_URL: 'postgres://lease_costs@db.example.com:5432/lease_costs',
};
const problemsOf = (env: NodeJS.ProcessEnv, roles: Parameters<typeof loadConfig>[1]) => {
  try {
    loadConfig(env, roles);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.variable).sort();
    throw err;
  }
  return [];
};

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const c = loadConfig(workerEnv, ['worker']);
    expect(c).toMatchObject({
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'lease-costs',
      BILLING_PADDING_HOURS: 8,
      COST_EXPLORER_MAX_RPS: 4,
      S3_KEY_PREFIX: '',
      PRESIGNED_URL_EXPIRY_DAYS: 7,
      WEBHOOK_PORT: 8080,
    });
  });

  it('names every bad or missing variable at once', () => {
    const env = {
      BILLING_PADDING_HOURS: '169',
      PRESIGNED_URL_EXPIRY_DAYS: '0',
      COST_EXPLORER_MAX_RPS: '6',
      WEBHOOK_PORT: 'http',
      S3_BUCKET_NAME: 'Bad_Bucket',
    };
    expect(problemsOf(env, ['worker', 'webhook'])).toEqual([
      'BILLING_PADDING_HOURS',
      'COST_EXPLORER_MAX_RPS',
      'COST_EXPLORER_ROLE_ARN',
      'DATABASE_URL',
      'EVENT_BUS_NAME',
      'ISB_API_BASE_URL',
      'ISB_JWT_SECRET_PATH',
      'PRESIGNED_URL_EXPIRY_DAYS',
      'S3_BUCKET_NAME',
      'WEBHOOK_API_KEY',
      'WEBHOOK_PORT',
    ]);
  });

  it('takes report links only as a valid pair, and the webhook serving them needs the bucket', () => {
    const key = randomBytes(32).toString('base64');
    const link = { REPORT_LINK_BASE_URL: 'https://costs.example.com', REPORT_LINK_SIGNING_KEY: key };
    expect(loadConfig({ ...workerEnv, ...link }, ['worker'])).toMatchObject(link);
    expect(problemsOf({ ...workerEnv, REPORT_LINK_SIGNING_KEY: key }, ['worker'])).toEqual(['REPORT_LINK_BASE_URL']);
    expect(problemsOf({ ...workerEnv, REPORT_LINK_BASE_URL: link.REPORT_LINK_BASE_URL }, ['worker'])).toEqual([
      'REPORT_LINK_SIGNING_KEY',
    ]);
    expect(
      problemsOf(
        { ...workerEnv, ...link, REPORT_LINK_BASE_URL: 'http://costs.example.com', REPORT_LINK_SIGNING_KEY: 'short' },
        ['worker'],
      ),
    ).toEqual(['REPORT_LINK_BASE_URL', 'REPORT_LINK_SIGNING_KEY']);
    expect(
      problemsOf({ WEBHOOK_AUTH: 'none', WEBHOOK_HOST: '127.0.0.1', REPORT_LINK_SIGNING_KEY: key }, ['webhook']),
    ).toEqual(['S3_BUCKET_NAME']);
    expect(
      problemsOf(
        {
          WEBHOOK_AUTH: 'none',
          WEBHOOK_HOST: '127.0.0.1',
          REPORT_LINK_SIGNING_KEY: key,
          S3_BUCKET_NAME: 'reports-bucket',
        },
        ['webhook'],
      ),
    ).toEqual([]);
  });

  it.each([
    ['https://isb.example.com', true],
    ['http://127.0.0.1:8080', true],
    ['http://localhost:3000/api', true],
    ['http://[::1]:3000', true],
    ['http://127.1.2.3:8080', true],
    ['http://127.attacker.example/', false],
    ['http://localhost.attacker.example/', false],
    ['http://127.0.0.1.nip.io/', false],
    ['http://isb.example.com', false],
    ['ftp://isb.example.com', false],
    ['not a url', false],
  ])('ISB_API_BASE_URL %s is accepted: %s', (url, ok) => {
    expect(problemsOf({ ...workerEnv, ISB_API_BASE_URL: url }, ['worker']).includes('ISB_API_BASE_URL')).toBe(!ok);
  });

  it('validates encryption keys without echoing them', () => {
    const short = randomBytes(16).toString('base64');
    let message = '';
    try {
      loadConfig({ PAYLOAD_ENCRYPTION_KEYS: `k1:${short}` }, ['client']);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/PAYLOAD_ENCRYPTION_KEYS: key "k1": must be exactly 32 bytes/);
    expect(message).not.toContain(short);
    expect(problemsOf({ PAYLOAD_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}` }, ['client'])).toEqual([]);
  });

  it('the webhook needs a key unless auth is off, and auth is off only on loopback', () => {
    expect(problemsOf({}, ['webhook'])).toEqual(['WEBHOOK_API_KEY']);
    expect(problemsOf({ WEBHOOK_AUTH: 'none', WEBHOOK_HOST: '127.0.0.1' }, ['webhook'])).toEqual([]);
    expect(problemsOf({ WEBHOOK_AUTH: 'none', WEBHOOK_HOST: 'localhost' }, ['webhook'])).toEqual([]);
    expect(problemsOf({ WEBHOOK_AUTH: 'none' }, ['webhook'])).toEqual(['WEBHOOK_AUTH']);
    expect(problemsOf({ WEBHOOK_AUTH: 'none', WEBHOOK_HOST: '10.0.0.5' }, ['webhook'])).toEqual(['WEBHOOK_AUTH']);
    expect(problemsOf({ WEBHOOK_API_KEY: 'short' }, ['webhook'])).toEqual(['WEBHOOK_API_KEY']);
  });

  it.each([
    '',
    ' ',
    'localhost',
    '127.0.0.1',
    'host:0',
    'host:65536',
    'a b:7233',
    'http://host:7233',
    'host:7233/x',
    'host:7233\n',
  ])('TEMPORAL_ADDRESS %j is refused', (address) => {
    expect(problemsOf({ TEMPORAL_ADDRESS: address }, ['client'])).toEqual(['TEMPORAL_ADDRESS']);
  });
  it.each(['127.0.0.1:7233', 'temporal:7233', 'ns.acct.tmprl.cloud:7233', '[::1]:7233'])(
    'TEMPORAL_ADDRESS %j is accepted',
    (address) => {
      expect(problemsOf({ TEMPORAL_ADDRESS: address }, ['client'])).toEqual([]);
    },
  );
  it('the connection refuses an address that did not come through loadConfig, naming the variable', () => {
    expect(() => temporalConnectionOptions({ TEMPORAL_ADDRESS: '' } as Config)).toThrow(
      /TEMPORAL_ADDRESS: must be host:port/,
    );
  });

  it.each([
    '../reports/',
    'reports/../other/',
    '..',
    'a/./b/',
    'rep\u0000orts/',
    'reports\n/',
    'tab\there/',
    'esc\u001b[0m/',
    '/abs/',
  ])('S3_KEY_PREFIX %j is refused', (prefix) => {
    expect(problemsOf({ S3_KEY_PREFIX: prefix }, ['client'])).toEqual(['S3_KEY_PREFIX']);
  });
  it.each(['', 'reports/', 'team-a/lease..costs/', 'a.b/'])('S3_KEY_PREFIX %j is accepted', (prefix) => {
    expect(problemsOf({ S3_KEY_PREFIX: prefix }, ['client'])).toEqual([]);
  });

  it.each([
    ['junk after the key', (k: string) => `k1:${k}!!`],
    ['junk inside the key', (k: string) => `k1:${k.slice(0, 10)}*${k.slice(10)}`],
    ['a space inside the key', (k: string) => `k1:${k.slice(0, 10)} ${k.slice(10)}`],
    ['base64url alphabet', (k: string) => `k1:${k.replace(/\+/g, '-').replace(/\//g, '_').replace(/^./, '-')}`],
    ['no padding', (k: string) => `k1:${k.slice(0, -1)}`],
  ])('PAYLOAD_ENCRYPTION_KEYS with %s is refused', (_name, spec) => {
    expect(problemsOf({ PAYLOAD_ENCRYPTION_KEYS: spec(randomBytes(32).toString('base64')) }, ['client'])).toEqual([
      'PAYLOAD_ENCRYPTION_KEYS',
    ]);
  });

  it('WEBHOOK_TRUST_PROXY takes proxy addresses, never "true"', () => {
    expect(loadConfig({}, ['client']).WEBHOOK_TRUST_PROXY).toEqual([]);
    expect(
      loadConfig({ WEBHOOK_TRUST_PROXY: '10.0.0.0/8, 192.0.2.10,loopback' }, ['client']).WEBHOOK_TRUST_PROXY,
    ).toEqual(['10.0.0.0/8', '192.0.2.10', 'loopback']);
    for (const bad of ['true', '1', 'lb.example.com', '10.0.0.0/8/1']) {
      expect(problemsOf({ WEBHOOK_TRUST_PROXY: bad }, ['client']), bad).toEqual(['WEBHOOK_TRUST_PROXY']);
    }
  });

  it('REPORT_FOCUS is off by default and takes only true or false', () => {
    expect(loadConfig(workerEnv, ['worker']).REPORT_FOCUS).toBe(false);
    expect(loadConfig({ ...workerEnv, REPORT_FOCUS: 'true' }, ['worker']).REPORT_FOCUS).toBe(true);
    for (const bad of ['yes', '1', 'TRUE'])
      expect(problemsOf({ ...workerEnv, REPORT_FOCUS: bad }, ['worker']), bad).toEqual(['REPORT_FOCUS']);
  });

  it('PAYLOAD_REQUIRE_ENCRYPTION needs keys; the codec endpoint needs a token off loopback', () => {
    expect(problemsOf({ PAYLOAD_REQUIRE_ENCRYPTION: 'true' }, ['client'])).toEqual(['PAYLOAD_REQUIRE_ENCRYPTION']);
    const keys = `k1:${randomBytes(32).toString('base64')}`;
    expect(problemsOf({ PAYLOAD_ENCRYPTION_KEYS: keys }, ['codec'])).toEqual([]);
    expect(problemsOf({ PAYLOAD_ENCRYPTION_KEYS: keys, CODEC_HOST: '0.0.0.0' }, ['codec'])).toEqual([
      'CODEC_AUTH_TOKEN',
    ]);
    expect(
      problemsOf({ PAYLOAD_ENCRYPTION_KEYS: keys, CODEC_HOST: '0.0.0.0', CODEC_AUTH_TOKEN: 'x'.repeat(32) }, ['codec']),
    ).toEqual([]);
    expect(problemsOf({ PAYLOAD_ENCRYPTION_KEYS: keys, CODEC_HOST: '0.0.0.0', CODEC_AUTH: 'oidc' }, ['codec'])).toEqual(
      ['CODEC_OIDC_ISSUER', 'CODEC_OIDC_JWKS_URL'],
    );
    expect(
      problemsOf(
        {
          PAYLOAD_ENCRYPTION_KEYS: keys,
          CODEC_HOST: '0.0.0.0',
          CODEC_AUTH: 'oidc',
          CODEC_OIDC_JWKS_URL: 'https://idp.example/jwks.json',
          CODEC_OIDC_ISSUER: 'https://idp.example',
        },
        ['codec'],
      ),
    ).toEqual([]);
    expect(
      problemsOf(
        {
          PAYLOAD_ENCRYPTION_KEYS: keys,
          CODEC_AUTH: 'oidc',
          CODEC_OIDC_JWKS_URL: 'http://idp.example/jwks.json',
          CODEC_OIDC_ISSUER: 'i',
        },
        ['codec'],
      ),
    ).toEqual(['CODEC_OIDC_JWKS_URL']);
  });
});

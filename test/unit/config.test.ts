import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/infrastructure/config';

const workerEnv = {
  COST_EXPLORER_ROLE_ARN: 'arn:aws:iam::123456789012:role/IsbCostExplorerReader',
  S3_BUCKET_NAME: 'lease-costs-reports',
  EVENT_BUS_NAME: 'isb-events',
  ISB_API_BASE_URL: 'https://isb.example.com/api',
  ISB_JWT_SECRET_PATH: 'isb/jwt',
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
      TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: 'lease-costs',
      BILLING_PADDING_HOURS: 8, COST_EXPLORER_MAX_RPS: 4, S3_KEY_PREFIX: '', PRESIGNED_URL_EXPIRY_DAYS: 7, WEBHOOK_PORT: 8080,
    });
  });

  it('names every bad or missing variable at once', () => {
    const env = { BILLING_PADDING_HOURS: '169', PRESIGNED_URL_EXPIRY_DAYS: '0', COST_EXPLORER_MAX_RPS: '6', WEBHOOK_PORT: 'http', S3_BUCKET_NAME: 'Bad_Bucket' };
    expect(problemsOf(env, ['worker', 'webhook'])).toEqual([
      'BILLING_PADDING_HOURS', 'COST_EXPLORER_MAX_RPS', 'COST_EXPLORER_ROLE_ARN', 'EVENT_BUS_NAME', 'ISB_API_BASE_URL',
      'ISB_JWT_SECRET_PATH', 'PRESIGNED_URL_EXPIRY_DAYS', 'S3_BUCKET_NAME', 'WEBHOOK_API_KEY', 'WEBHOOK_PORT',
    ]);
  });

  it('takes report links only as a valid pair, and the webhook serving them needs the bucket', () => {
    const key = randomBytes(32).toString('base64');
    const link = { REPORT_LINK_BASE_URL: 'https://costs.example.com', REPORT_LINK_SIGNING_KEY: key };
    expect(loadConfig({ ...workerEnv, ...link }, ['worker'])).toMatchObject(link);
    expect(problemsOf({ ...workerEnv, REPORT_LINK_SIGNING_KEY: key }, ['worker'])).toEqual(['REPORT_LINK_BASE_URL']);
    expect(problemsOf({ ...workerEnv, REPORT_LINK_BASE_URL: link.REPORT_LINK_BASE_URL }, ['worker'])).toEqual(['REPORT_LINK_SIGNING_KEY']);
    expect(problemsOf({ ...workerEnv, ...link, REPORT_LINK_BASE_URL: 'http://costs.example.com', REPORT_LINK_SIGNING_KEY: 'short' }, ['worker']))
      .toEqual(['REPORT_LINK_BASE_URL', 'REPORT_LINK_SIGNING_KEY']);
    expect(problemsOf({ WEBHOOK_AUTH: 'none', REPORT_LINK_SIGNING_KEY: key }, ['webhook'])).toEqual(['S3_BUCKET_NAME']);
    expect(problemsOf({ WEBHOOK_AUTH: 'none', REPORT_LINK_SIGNING_KEY: key, S3_BUCKET_NAME: 'reports-bucket' }, ['webhook'])).toEqual([]);
  });

  it.each([
    ['https://isb.example.com', true],
    ['http://127.0.0.1:8080', true],
    ['http://localhost:3000/api', true],
    ['http://[::1]:3000', true],
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
    expect(message).toMatch(/PAYLOAD_ENCRYPTION_KEYS: key "k1": must be 32 bytes/);
    expect(message).not.toContain(short);
    expect(problemsOf({ PAYLOAD_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}` }, ['client'])).toEqual([]);
  });

  it('the webhook needs a key unless auth is off', () => {
    expect(problemsOf({}, ['webhook'])).toEqual(['WEBHOOK_API_KEY']);
    expect(problemsOf({ WEBHOOK_AUTH: 'none' }, ['webhook'])).toEqual([]);
    expect(problemsOf({ WEBHOOK_API_KEY: 'short' }, ['webhook'])).toEqual(['WEBHOOK_API_KEY']);
  });
});

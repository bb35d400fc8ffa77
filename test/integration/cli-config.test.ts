import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';

describe('a bad start', () => {
  it('`lease-costs worker` names every bad or missing variable and exits 2, starting nothing', async () => {
    const res = await runCli(['worker'], {
      BILLING_PADDING_HOURS: 'eight',
      ISB_API_BASE_URL: 'http://isb.example.com',
    });
    expect(res.code).toBe(2);
    for (const variable of [
      'BILLING_PADDING_HOURS',
      'COST_EXPLORER_ROLE_ARN',
      'S3_BUCKET_NAME',
      'EVENT_BUS_NAME',
      'ISB_API_BASE_URL',
      'ISB_JWT_SECRET_PATH',
      'DATABASE_URL',
    ]) {
      expect(res.stderr).toContain(variable);
    }
    expect(res.stderr).toContain('must be an https URL');
    expect(res.stdout).not.toContain('Worker started');
  });

  it('`lease-costs webhook` without a key exits 2', async () => {
    const res = await runCli(['webhook'], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/WEBHOOK_API_KEY: is required unless WEBHOOK_AUTH=none/);
  });

  it.each(['00000000-0000-0000-0000-000000000000', 'not-a-uuid'])(
    '`lease-costs status %s` exits 2 naming the argument, before any connection',
    async (uuid) => {
      const res = await runCli(['status', uuid], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('must be a lease uuid');
      expect(res.stderr).not.toContain('cannot reach Temporal');
    },
  );

  it.each([
    ['an empty TEMPORAL_ADDRESS', { TEMPORAL_ADDRESS: '' }, /TEMPORAL_ADDRESS: must be host:port/],
    [
      'S3_KEY_PREFIX with ..',
      { TEMPORAL_ADDRESS: '127.0.0.1:1', S3_KEY_PREFIX: 'reports/../x/' },
      /S3_KEY_PREFIX: must not contain \. or \.\. path segments/,
    ],
    [
      'junk in PAYLOAD_ENCRYPTION_KEYS',
      { PAYLOAD_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}!` },
      /PAYLOAD_ENCRYPTION_KEYS: key "k1": must be exactly 32 bytes/,
    ],
    [
      'WEBHOOK_AUTH=none on 0.0.0.0',
      { WEBHOOK_AUTH: 'none', WEBHOOK_HOST: '0.0.0.0' },
      /WEBHOOK_AUTH: none is allowed only with a loopback WEBHOOK_HOST/,
    ],
  ])(
    '`lease-costs webhook` with %s exits 2 with one message naming it, no stack trace',
    async (_name, env, message) => {
      const res = await runCli(['webhook'], { WEBHOOK_API_KEY: 'a-webhook-key-0123456789', WEBHOOK_PORT: '0', ...env });
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).not.toMatch(/\n\s+at /);
      expect(res.stdout).not.toContain('webhook listening');
    },
  );
});

import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';

describe('a bad start', () => {
  it('`lease-costs worker` names every bad or missing variable and exits 2, starting nothing', async () => {
    const res = await runCli(['worker'], { BILLING_PADDING_HOURS: 'eight', ISB_API_BASE_URL: 'http://isb.example.com' });
    expect(res.code).toBe(2);
    for (const variable of ['BILLING_PADDING_HOURS', 'COST_EXPLORER_ROLE_ARN', 'S3_BUCKET_NAME', 'EVENT_BUS_NAME', 'ISB_API_BASE_URL', 'ISB_JWT_SECRET_PATH']) {
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

  it.each(['00000000-0000-0000-0000-000000000000', 'not-a-uuid'])('`lease-costs status %s` exits 2 naming the argument, before any connection', async (uuid) => {
    const res = await runCli(['status', uuid], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('must be a lease uuid');
    expect(res.stderr).not.toContain('cannot reach Temporal');
  });
});

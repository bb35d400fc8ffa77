import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/infrastructure/config';

// The settings of reconciliation, backfill and LeaseCostsFailed.
const problemsOf = (env: NodeJS.ProcessEnv, roles: Parameters<typeof loadConfig>[1]) => {
  try {
    loadConfig(env, roles);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.variable).sort();
    throw err;
  }
};

describe('reconciliation, backfill and failure-event settings', () => {
  it('defaults to an hourly reconciliation over 14 days and no UI link', () => {
    const config = loadConfig({}, ['client']);
    expect(config).toMatchObject({ RECONCILE_INTERVAL_MINUTES: 60, RECONCILE_LOOKBACK_DAYS: 14 });
    expect(config.TEMPORAL_UI_URL).toBeUndefined();
  });

  it('names every out-of-range or malformed value', () => {
    expect(
      problemsOf({ RECONCILE_INTERVAL_MINUTES: '0', RECONCILE_LOOKBACK_DAYS: '366', TEMPORAL_UI_URL: 'ftp://ui' }, [
        'client',
      ]),
    ).toEqual(['RECONCILE_INTERVAL_MINUTES', 'RECONCILE_LOOKBACK_DAYS', 'TEMPORAL_UI_URL']);
    expect(
      loadConfig({ RECONCILE_INTERVAL_MINUTES: '15', TEMPORAL_UI_URL: 'https://temporal.example.com' }, ['client']),
    ).toMatchObject({ RECONCILE_INTERVAL_MINUTES: 15, TEMPORAL_UI_URL: 'https://temporal.example.com' });
  });

  it('backfill (the isb role) needs the ISB API and its secret, named once each', () => {
    expect(problemsOf({}, ['client', 'isb'])).toEqual(['ISB_API_BASE_URL', 'ISB_JWT_SECRET_PATH']);
    expect(problemsOf({}, ['worker', 'isb']).filter((v) => v === 'ISB_JWT_SECRET_PATH')).toHaveLength(1);
    expect(
      problemsOf({ ISB_API_BASE_URL: 'https://isb.example.com', ISB_JWT_SECRET: 's'.repeat(16) }, ['client', 'isb']),
    ).toEqual([]);
  });
});

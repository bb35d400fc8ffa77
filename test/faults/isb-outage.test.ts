// The ISB API down (5xx) for a while when a batch of leases is looked up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeLeaseId } from '../../support/fakes/isb-api';
import { startStack, type Stack } from '../helpers/stack';
import { assertBatchOutcome, awaitCompletion, makeLeases, startLeases } from './harness';

// Minutes, as the ISB can be: lookupLease's backoff (2 s doubling, capped at 2 min) must outlast it.
const OUTAGE_MS = 120_000;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.startWorker();
});
afterAll(async () => stack?.stop());

describe('ISB API outage', () => {
  it('answers 503 for 2 minutes: lookups are retried by the engine and every lease completes', async () => {
    const leases = makeLeases(stack, 4);
    stack.isb.failFor(OUTAGE_MS, 503);
    const outageEnds = Date.now() + OUTAGE_MS;
    try {
      await startLeases(stack, leases);
      const results = await awaitCompletion(stack.client, leases, 240_000);
      await assertBatchOutcome(stack, leases, results);
    } finally {
      stack.isb.resetFaults();
    }
    for (const lease of leases) {
      const path = `/leases/${encodeLeaseId(lease.userEmail, lease.uuid)}`;
      const calls = stack.isb.calls.filter((c) => c.path === path);
      expect(calls.length, `ISB calls for ${lease.uuid}`).toBeGreaterThanOrEqual(2);
      expect(calls.filter((c) => c.status === 503).every((c) => c.at < outageEnds)).toBe(true);
      expect(calls.some((c) => c.status === 503), `${lease.uuid} met the outage`).toBe(true);
      // Exactly one successful lookup: nothing after the outage was retried needlessly.
      expect(calls.filter((c) => c.status === 200)).toHaveLength(1);
      expect(calls[calls.length - 1]!.status).toBe(200);
    }
  }, 300_000);
});

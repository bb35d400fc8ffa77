// The ISB API down (5xx) for a while when a batch of leases is looked up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeLeaseId } from '../../support/fakes/isb-api';
import { workflowIdFor } from '../../src/infrastructure/client';
import { ErrorType } from '../../src/domain/errors';
import { startStack, type Stack } from '../helpers/stack';
import { fetchHistory } from '../helpers/temporal';
import { assertBatchOutcome, awaitCompletion, makeLeases, startLeases } from './harness';

// Long enough for four failed attempts (at 0, 2, 6 and 14 s of lookupLease's backoff). An outage of
// minutes, as the ISB can have, differs only in how long the engine keeps retrying: the test reads
// that from the schedule the server holds instead of waiting it out.
const OUTAGE_MS = 20_000;
const seconds = (d: { seconds?: unknown } | null | undefined) => Number(d?.seconds ?? 0);
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.startWorker();
});
afterAll(async () => stack?.stop());

describe('ISB API outage', () => {
  it('answers 503 for 20 s: lookups are retried by the engine, every lease completes, and the engine would go on retrying for two hours', async () => {
    const leases = makeLeases(stack, 4);
    stack.isb.failFor(OUTAGE_MS, 503);
    const outageEnds = Date.now() + OUTAGE_MS;
    try {
      await startLeases(stack, leases);
      const results = await awaitCompletion(stack.client, leases, 120_000);
      await assertBatchOutcome(stack, leases, results);
    } finally {
      stack.isb.resetFaults();
    }
    for (const lease of leases) {
      const path = `/leases/${encodeLeaseId(lease.userEmail, lease.uuid)}`;
      const calls = stack.isb.calls.filter((c) => c.path === path);
      expect(calls.length, `ISB calls for ${lease.uuid}`).toBeGreaterThanOrEqual(2);
      expect(calls.filter((c) => c.status === 503).every((c) => c.at < outageEnds)).toBe(true);
      expect(
        calls.some((c) => c.status === 503),
        `${lease.uuid} met the outage`,
      ).toBe(true);
      // Exactly one successful lookup: nothing after the outage was retried needlessly.
      expect(calls.filter((c) => c.status === 200)).toHaveLength(1);
      expect(calls[calls.length - 1]!.status).toBe(200);

      // What the server retries on: no attempt limit, backoff capped at 2 minutes, for 2 hours.
      const history = await fetchHistory(stack.client, workflowIdFor(lease.uuid));
      const lookup = (history.events ?? [])
        .map((e) => e.activityTaskScheduledEventAttributes)
        .find((a) => a?.activityType?.name === 'lookupLease');
      expect(lookup, `lookupLease scheduled for ${lease.uuid}`).toBeDefined();
      expect(lookup!.retryPolicy?.maximumAttempts ?? 0).toBe(0);
      expect(seconds(lookup!.retryPolicy?.initialInterval)).toBe(2);
      expect(lookup!.retryPolicy?.backoffCoefficient).toBe(2);
      expect(seconds(lookup!.retryPolicy?.maximumInterval)).toBe(120);
      expect(seconds(lookup!.scheduleToCloseTimeout)).toBe(2 * 3600);
      // Only answers that a retry would repeat end the lookup at once; an outage is none of them.
      expect([...(lookup!.retryPolicy?.nonRetryableErrorTypes ?? [])].sort()).toEqual(
        [ErrorType.IsbRequestRejected, ErrorType.InvalidLease, ErrorType.LeaseMismatch, ErrorType.LeaseNotFound].sort(),
      );
    }
  }, 180_000);
});

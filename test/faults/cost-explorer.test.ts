// Cost Explorer misbehaving under a batch of leases: throttling half the calls, and the assumed
// role's session token expiring mid-collection.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack';
import { assertBatchOutcome, awaitCompletion, ceCallsFor, makeLeases, refetchedPages, startLeases } from './harness';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.startWorker();
});
afterAll(async () => stack?.stop());
afterEach(() => {
  stack.ce.resetFaults();
  stack.ce.setPageSize(500);
});

describe('Cost Explorer faults', () => {
  it('throttling every other call: every lease completes exactly, resuming pages rather than refetching them', async () => {
    stack.ce.setPageSize(2);
    stack.ce.setThrottle({ everyNth: 2 });
    const leases = makeLeases(stack, 4, { resources: 6 });
    await startLeases(stack, leases);
    const results = await awaitCompletion(stack.client, leases, 50_000);
    await assertBatchOutcome(stack, leases, results);

    for (const lease of leases) {
      const calls = ceCallsFor(stack, lease);
      expect(calls.filter((c) => c.status === 200).length, `pages of ${lease.uuid}`).toBeGreaterThanOrEqual(3);
      // Every other call of each lease was throttled: half of all calls.
      expect(
        calls.filter((c) => c.errorCode === 'LimitExceededException').length,
        `throttled calls of ${lease.uuid}`,
      ).toBe(Math.floor(calls.length / 2));
      // Each throttled call failed its attempt; the retry went on from the recorded resume point.
      expect(refetchedPages(stack, lease), `pages of ${lease.uuid} fetched twice`).toEqual([]);
    }
  });

  it('the role session expiring mid-collection: the worker assumes the role again and finishes', async () => {
    stack.ce.setPageSize(2);
    // Each session token works for 4 Cost Explorer calls, then answers ExpiredTokenException,
    // long before the expiry STS announced (an hour): the SDK alone would keep sending it.
    stack.ce.setSessionTokenLifetime(4);
    const leases = makeLeases(stack, 3, { resources: 6 });
    await startLeases(stack, leases);
    const results = await awaitCompletion(stack.client, leases, 50_000);
    await assertBatchOutcome(stack, leases, results);

    const calls = leases.flatMap((l) => ceCallsFor(stack, l));
    expect(calls.filter((c) => c.errorCode === 'ExpiredTokenException').length).toBeGreaterThanOrEqual(1);
    const expired = new Set(stack.ce.expiredSessionTokens());
    expect(expired.size).toBeGreaterThanOrEqual(1);
    const sessions = new Set(calls.filter((c) => c.status === 200).map((c) => c.sessionToken));
    expect(sessions.size, 'distinct role sessions that served pages').toBeGreaterThanOrEqual(2);
    for (const lease of leases)
      expect(refetchedPages(stack, lease), `pages of ${lease.uuid} fetched twice`).toEqual([]);
  });
});

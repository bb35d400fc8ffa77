// S3 answering 503 SlowDown to everything for 10 s while a batch of leases is being collected, and
// a report upload that hangs.
import { createHash } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { startStack, type Stack } from '../helpers/stack';
import { fetchHistory } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';
import { workflowIdFor } from '../../src/infrastructure/client';
import { assertBatchOutcome, awaitCompletion, makeLeases, startLeases, untilCollecting } from './harness';

const OUTAGE_MS = 10_000;
let stack: Stack;
let proxy: FaultProxy;

beforeAll(async () => {
  stack = await startStack();
  proxy = await startFaultProxy(stack.motoEndpoint);
  // Only the worker's S3 goes through the proxy; the test reads moto directly (stack.s3).
  process.env.AWS_ENDPOINT_URL_S3 = proxy.endpoint;
  await stack.startWorker();
});
afterAll(async () => {
  await stack?.stop();
  await proxy?.close();
});

describe('S3 outage', () => {
  it('503 SlowDown for 10 s mid-collection: activities fail, the engine retries, every lease completes exactly', async () => {
    stack.ce.setPageSize(2);
    stack.ce.setDelayMs(300);
    const leases = makeLeases(stack, 4, { resources: 8 }); // 4 pages each
    try {
      await startLeases(stack, leases);
      // Collection under way for every lease: its first page has been read.
      await untilCollecting(stack, leases);
      const outage = proxy.addRule({ status: 503, code: 'SlowDown', forMs: OUTAGE_MS });
      const outageEnds = Date.now() + OUTAGE_MS;
      const results = await awaitCompletion(stack.client, leases, 55_000);
      await assertBatchOutcome(stack, leases, results);

      const injected = proxy.log.filter((e) => e.outcome === 'injected');
      expect(outage.matched.length).toBe(injected.length);
      expect(injected.every((e) => e.status === 503 && e.at < outageEnds)).toBe(true);
      // The outage met the staging writes of the collection.
      expect(
        injected.some((e) => e.method === 'PUT' && e.key?.includes('/staging/')),
        'a staging PUT got 503',
      ).toBe(true);
      // And nothing was written through the proxy after the outage that did not succeed.
      const after = proxy.log.filter((e) => e.at >= outageEnds);
      expect(after.length).toBeGreaterThan(0);
      expect(after.filter((e) => e.outcome !== 'forwarded' || (e.status ?? 0) >= 500)).toEqual([]);
    } finally {
      proxy.clearRules();
      stack.ce.resetFaults();
      stack.ce.setPageSize(500);
    }
  });

  it('a report upload that hangs: the attempt times out at its heartbeat, the retry writes the report, the late upload changes nothing', async () => {
    const isReportPut = (r: { method: string; key?: string }) =>
      r.method === 'PUT' && /\/lease-costs-[^/]+-v\d+\.csv$/.test(r.key ?? '');
    const since = proxy.log.length;
    const hang = proxy.addRule({ match: isReportPut, hold: true, times: 1 });
    const leases = makeLeases(stack, 1);
    try {
      await startLeases(stack, leases);
      await hang.waitForMatches(1, 60_000);
      const [result] = await awaitCompletion(stack.client, leases, 90_000);
      await assertBatchOutcome(stack, leases, [result!]);

      // The second attempt wrote the report; the first was timed out by its heartbeat, its upload still held.
      const history = await fetchHistory(stack.client, workflowIdFor(leases[0]!.uuid));
      const scheduled = new Map<string, string>();
      for (const e of history.events ?? []) {
        const a = e.activityTaskScheduledEventAttributes;
        if (a) scheduled.set(String(e.eventId), a.activityType?.name ?? '');
      }
      const writes = (history.events ?? [])
        .map((e) => e.activityTaskStartedEventAttributes)
        .filter((a) => a && scheduled.get(String(a.scheduledEventId)) === 'writeReport');
      expect(writes.map((a) => a!.attempt)).toEqual([2]);
      expect(writes[0]!.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(
        temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_HEARTBEAT,
      );
      const puts = () => proxy.log.slice(since).filter(isReportPut);
      expect(puts().map((p) => [p.outcome, p.status])).toEqual([
        ['forwarded', undefined],
        ['forwarded', 200],
      ]);

      // Let the hung upload through: it lands late, with the same bytes, so the report is unchanged.
      hang.release();
      await waitFor(async () => (puts()[0]!.status === 200 ? true : undefined), 10_000, 'the late upload to land');
      const object = await stack.getObject(result!.key);
      expect(createHash('sha256').update(object.body).digest('base64')).toBe(result!.checksumSha256);
    } finally {
      proxy.clearRules();
    }
  }, 150_000);
});

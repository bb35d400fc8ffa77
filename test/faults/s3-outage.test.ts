// S3 answering 503 SlowDown to everything for 10 s while a batch of leases is being collected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { startStack, type Stack } from '../helpers/stack';
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
      expect(injected.some((e) => e.method === 'PUT' && e.key?.includes('/staging/')), 'a staging PUT got 503').toBe(true);
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
});

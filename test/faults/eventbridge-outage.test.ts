// EventBridge failing PutEvents, until every lease has failed to publish at least once: with a 500
// InternalException, or with a 200 whose entry was not put (FailedEntryCount 1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../../src/client';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { assertBatchOutcome, awaitCompletion, makeLeases, startLeases } from './harness';

let stack: Stack;
let proxy: FaultProxy;

beforeAll(async () => {
  stack = await startStack();
  proxy = await startFaultProxy(stack.motoEndpoint);
  // Only the worker's EventBridge goes through the proxy; the event capture reads moto's SQS directly.
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = proxy.endpoint;
  await stack.startWorker();
});
afterAll(async () => {
  await stack?.stop();
  await proxy?.close();
});

describe('EventBridge failing PutEvents', () => {
  const notPut = { FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'Injected fault.' }] };
  it.each([
    { answer: '500 InternalException', rule: { status: 500, code: 'InternalException' }, failureType: 'InternalException', injectedStatus: 500 },
    { answer: '200 with FailedEntryCount 1', rule: { status: 200, json: notPut }, failureType: 'Error', injectedStatus: 200 },
  ])('PutEvents answering $answer: publishing is retried by the engine, every lease ends with its event', async ({ rule, failureType, injectedStatus }) => {
    const since = proxy.log.length;
    const outage = proxy.addRule({ match: (r) => r.target === 'AWSEvents.PutEvents', ...rule });
    const leases = makeLeases(stack, 3, { resources: 4 });
    try {
      await startLeases(stack, leases);
      // Every lease has reached publishing and failed it at least once, with the injected error.
      await waitFor(async () => {
        for (const lease of leases) {
          const { raw } = await stack.client.workflow.getHandle(workflowIdFor(lease.uuid)).describe();
          const publish = raw.pendingActivities?.find((a) => a.activityType?.name === 'publishReport');
          if (!publish || (publish.attempt ?? 0) < 2) return undefined;
          expect(publish.lastFailure?.applicationFailureInfo?.type).toBe(failureType);
        }
        return true;
      }, 60_000, 'every lease to fail publishing once');
    } finally {
      outage.release();
    }
    const outageEnds = Date.now();

    const results = await awaitCompletion(stack.client, leases, 60_000);
    await assertBatchOutcome(stack, leases, results);

    const putEvents = proxy.log.slice(since).filter((e) => e.target === 'AWSEvents.PutEvents');
    const injected = putEvents.filter((e) => e.outcome === 'injected');
    expect(injected.length).toBe(outage.matched.length);
    expect(injected.every((e) => e.status === injectedStatus && e.at <= outageEnds)).toBe(true);
    // After the outage, each lease published once, and moto accepted it.
    const after = putEvents.filter((e) => e.at > outageEnds);
    expect(after.map((e) => [e.outcome, e.status])).toEqual(leases.map(() => ['forwarded', 200]));
  });
});

// AWS services the worker depends on failing until the fault has met every lease: STS failing
// AssumeRole, Secrets Manager failing the read of the ISB JWT secret, and EventBridge failing
// PutEvents (a 500 InternalException, or a 200 whose entry was not put).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { startStack, type Stack } from '../helpers/stack';
import { workflowIdFor } from '../../src/infrastructure/client';
import {
  assertBatchOutcome,
  awaitCompletion,
  ceCallsFor,
  makeLeases,
  startLeases,
  untilEveryLeaseRetried,
} from './harness';

let stack: Stack;
let proxy: FaultProxy;

beforeAll(async () => {
  stack = await startStack();
  proxy = await startFaultProxy(stack.motoEndpoint);
  // Only the worker's STS, Secrets Manager and EventBridge go through the proxy (moto serves all on
  // one endpoint); the event capture and the test's own clients talk to moto directly.
  process.env.AWS_ENDPOINT_URL_STS = proxy.endpoint;
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = proxy.endpoint;
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = proxy.endpoint;
});
afterAll(async () => {
  await stack?.stop();
  await proxy?.close();
});

describe('STS failing', () => {
  it('AssumeRole answering 503: pages are retried by the engine, the role is assumed once after', async () => {
    await stack.startWorker(); // a new worker: it has not assumed the role yet
    const isAssumeRole = (r: { awsQuery: boolean }) => r.awsQuery; // the only AWS Query service here
    const since = proxy.log.length;
    const outage = proxy.addRule({ match: isAssumeRole, status: 503, code: 'ServiceUnavailable' });
    const leases = makeLeases(stack, 3, { resources: 4 });
    try {
      await startLeases(stack, leases);
      // STS models no ServiceUnavailable error, so the SDK raises its generic service exception.
      await untilEveryLeaseRetried(
        stack,
        leases,
        'collectCostsPage',
        'STSServiceException',
        (l) => `${workflowIdFor(l.uuid)}-collect-v1`,
      );
    } finally {
      outage.release();
    }
    const outageEnds = Date.now();
    // Without credentials, nothing was sent to Cost Explorer.
    expect(leases.flatMap((l) => ceCallsFor(stack, l)).filter((c) => c.at <= outageEnds)).toEqual([]);

    const results = await awaitCompletion(stack.client, leases, 60_000);
    await assertBatchOutcome(stack, leases, results);
    const assumes = proxy.log.slice(since).filter(isAssumeRole);
    expect(assumes.filter((e) => e.outcome === 'injected').every((e) => e.status === 503 && e.at <= outageEnds)).toBe(
      true,
    );
    expect(assumes.filter((e) => e.at > outageEnds).map((e) => [e.outcome, e.status])).toEqual([['forwarded', 200]]);
  });
});

describe('Secrets Manager failing', () => {
  it('GetSecretValue answering 500: lookups are retried by the engine, the secret is read once after', async () => {
    await stack.startWorker(); // a new worker: it has not read the secret yet (it keeps it once read)
    const startedAt = Date.now();
    const isSecretRead = (r: { target?: string }) => r.target === 'secretsmanager.GetSecretValue';
    const since = proxy.log.length;
    const outage = proxy.addRule({ match: isSecretRead, status: 500, code: 'InternalServiceError' });
    const leases = makeLeases(stack, 3, { resources: 4 });
    try {
      await startLeases(stack, leases);
      await untilEveryLeaseRetried(stack, leases, 'lookupLease', 'InternalServiceError');
    } finally {
      outage.release();
    }
    const outageEnds = Date.now();
    // Without the secret, no request reached the ISB API.
    expect(stack.isb.calls.filter((c) => c.at >= startedAt && c.at <= outageEnds)).toEqual([]);

    const results = await awaitCompletion(stack.client, leases, 60_000);
    await assertBatchOutcome(stack, leases, results);
    const reads = proxy.log.slice(since).filter(isSecretRead);
    expect(reads.filter((e) => e.outcome === 'injected').every((e) => e.status === 500 && e.at <= outageEnds)).toBe(
      true,
    );
    expect(reads.filter((e) => e.at > outageEnds).map((e) => [e.outcome, e.status])).toEqual([['forwarded', 200]]);
  });
});

describe('EventBridge failing PutEvents', () => {
  const notPut = { FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'Injected fault.' }] };
  beforeAll(() => stack.startWorker());
  it.each([
    {
      answer: '500 InternalException',
      rule: { status: 500, code: 'InternalException' },
      failureType: 'InternalException',
      injectedStatus: 500,
    },
    {
      answer: '200 with FailedEntryCount 1',
      rule: { status: 200, json: notPut },
      failureType: 'Error',
      injectedStatus: 200,
    },
  ])(
    'PutEvents answering $answer: publishing is retried by the engine, every lease ends with its event',
    async ({ rule, failureType, injectedStatus }) => {
      const isPutEvents = (r: { target?: string }) => r.target === 'AWSEvents.PutEvents';
      const since = proxy.log.length;
      const outage = proxy.addRule({ match: isPutEvents, ...rule });
      const leases = makeLeases(stack, 3, { resources: 4 });
      try {
        await startLeases(stack, leases);
        await untilEveryLeaseRetried(stack, leases, 'publishReport', failureType);
      } finally {
        outage.release();
      }
      const outageEnds = Date.now();

      const results = await awaitCompletion(stack.client, leases, 60_000);
      await assertBatchOutcome(stack, leases, results);

      const putEvents = proxy.log.slice(since).filter(isPutEvents);
      const injected = putEvents.filter((e) => e.outcome === 'injected');
      expect(injected.length).toBe(outage.matched.length);
      expect(injected.every((e) => e.status === injectedStatus && e.at <= outageEnds)).toBe(true);
      // After the outage, each lease published once, and moto accepted it.
      expect(putEvents.filter((e) => e.at > outageEnds).map((e) => [e.outcome, e.status])).toEqual(
        leases.map(() => ['forwarded', 200]),
      );
    },
  );
});

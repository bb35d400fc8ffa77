// LeaseCostsFailed on the real stack: a run that fails for good emits exactly one event, read back
// through EventBridge → SQS on moto; LeaseCostsReportPublished carries the same schemaVersion.
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { createEventCapture, type EventCapture } from '../../support/aws';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';

const UI = 'http://temporal-ui.example:8233';
let stack: Stack;
let failures: EventCapture;

beforeAll(async () => {
  stack = await startStack({ env: { TEMPORAL_UI_URL: UI } });
  failures = await createEventCapture(stack.motoEndpoint, {
    busName: stack.config.EVENT_BUS_NAME!,
    detailType: 'LeaseCostsFailed',
  });
  await stack.startWorker();
});
afterAll(async () => {
  failures?.close();
  await stack?.stop();
});

const lease = () => ({
  uuid: randomUUID(),
  userEmail: `user-${randomUUID().slice(0, 8)}@example.gov.uk`,
  accountId: '210987654321',
  startDate: new Date(Date.now() - 3 * 24 * 3600_000).toISOString(),
  terminatedAt: new Date(Date.now() - 3600_000).toISOString(),
});
const start = (l: ReturnType<typeof lease>) =>
  startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
    leaseUuid: l.uuid,
    userEmail: l.userEmail,
    accountId: l.accountId,
    terminatedAt: l.terminatedAt,
    paddingHours: 1,
    rerunWindowHours: 0,
  });

describe('failure and success events', () => {
  it('emits one LeaseCostsFailed for a lease the ISB API does not know', async () => {
    const l = lease(); // never added to the ISB fake
    const started = await start(l);
    expect(started.status).toBe('started');
    const err = await stack.client.workflow
      .getHandle(workflowIdFor(l.uuid))
      .result()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const events = (await failures.receiveAll<Record<string, unknown>>(3_000)).filter(
      (e) => e.detail.leaseId === l.uuid,
    );
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event!.source).toBe('isb-costs');
    expect(event!['detail-type']).toBe('LeaseCostsFailed');
    const runId = started.status === 'started' ? started.runId : '';
    expect(event!.detail).toEqual({
      schemaVersion: 1,
      leaseId: l.uuid,
      userEmail: l.userEmail,
      accountId: l.accountId,
      errorType: 'LeaseNotFound',
      errorMessage: `The ISB API has no readable lease ${l.uuid} (404): it never existed, was deleted after the ISB's leases.ttl, or its record fails the ISB's own schema`,
      attempts: 1,
      workflowId: workflowIdFor(l.uuid),
      runId,
      temporalUiUrl: `${UI}/namespaces/default/workflows/${workflowIdFor(l.uuid)}/${runId}/history`,
      idempotencyKey: `${workflowIdFor(l.uuid)}:${runId}:failed`,
    });
  });

  it('gives LeaseCostsReportPublished the same schemaVersion, and emits no failure for a published lease', async () => {
    const l = lease();
    stack.isb.addLease({
      uuid: l.uuid,
      userEmail: l.userEmail,
      accountId: l.accountId,
      startDate: l.startDate,
      endDate: l.terminatedAt,
      status: 'Expired',
    });
    const today = new Date().toISOString().slice(0, 10);
    stack.ce.addCosts(
      dailyCosts({
        accountId: l.accountId,
        start: l.startDate.slice(0, 10),
        end: today,
        service: 'AWS Lambda',
        resourceId: 'fn',
        region: 'eu-west-2',
        amount: '0.25',
      }),
    );
    await start(l);
    await stack.client.workflow.getHandle(workflowIdFor(l.uuid)).result();
    const published = (await stack.published.receiveAll<Record<string, unknown>>(3_000)).filter(
      (e) => e.detail.leaseId === l.uuid,
    );
    expect(published.map((e) => e.detail.schemaVersion)).toEqual([1]);
    expect(
      (await failures.receiveAll<Record<string, unknown>>(1_000)).filter((e) => e.detail.leaseId === l.uuid),
    ).toEqual([]);
  });
});

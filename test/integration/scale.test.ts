import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVE_RUN_PRIORITY } from '../../src/domain/priority';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import type { LeaseCostsResult } from '../../workflows';
import { fetchHistory, type History } from '../helpers/temporal';
import { startStack, type Stack } from '../helpers/stack';

const ROWS = 100_000;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ ce: { pageSize: 1000 } });
  await stack.startWorker();
});
afterAll(async () => stack?.stop());

/** Every Payload in the history, wherever it sits (inputs, results, heartbeat details, failures). */
function payloadSizes(history: History): number[] {
  const sizes: number[] = [];
  const visit = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    if (v instanceof Uint8Array) return;
    const o = v as Record<string, unknown>;
    if (o.data instanceof Uint8Array && 'metadata' in o) {
      sizes.push(temporal.api.common.v1.Payload.encode(o as never).finish().length);
      return;
    }
    for (const child of Object.values(o)) visit(child);
  };
  visit(history);
  return sizes;
}

describe('report size', () => {
  it(`completes a ${ROWS.toLocaleString('en')}-row lease with small payloads and a small history`, async () => {
    const now = Date.now();
    const lease = { uuid: randomUUID(), userEmail: 'big.spender@example.gov.uk', accountId: '777788889999' };
    const day = new Date(now - 24 * 3600_000).toISOString().slice(0, 10);
    stack.isb.addLease({ ...lease, startDate: `${day}T10:00:00Z`, status: 'Expired' });
    stack.ce.addCosts(
      Array.from({ length: ROWS }, (_, i) => ({
        accountId: lease.accountId,
        date: day,
        service: `Service ${i % 40}`,
        resourceId: `arn:aws:ec2:eu-west-2:${lease.accountId}:volume/vol-${i.toString(16).padStart(8, '0')}`,
        region: 'eu-west-2',
        amount: `${i % 97}.${String(i).padStart(6, '0')}`,
      })),
    );

    await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
      ...lease,
      leaseUuid: lease.uuid,
      terminatedAt: new Date(now - 3600_000 + 2000).toISOString(),
      paddingHours: 1,
      rerunWindowHours: 0,
    });
    const summary = await (stack.client.workflow
      .getHandle(workflowIdFor(lease.uuid))
      .result() as Promise<LeaseCostsResult>);
    expect(summary.rowCount).toBe(ROWS);
    expect(summary.total).toBe(
      stack.ce.expectedTotal({ accountId: lease.accountId, start: day, end: '9999-12-31', recordType: 'Usage' }),
    );

    const history = await fetchHistory(stack.client, workflowIdFor(lease.uuid));
    const sizes = payloadSizes(history);
    const historyBytes = temporal.api.history.v1.History.encode(history).finish().length;
    console.log(
      `100k rows: ${history.events!.length} events, ${historyBytes} history bytes, largest payload ${Math.max(...sizes)} bytes`,
    );
    expect(sizes.length).toBeGreaterThan(0);
    // The README's claims, exactly: largest payload under 1 KiB, the lease's history under 16 KiB.
    expect(Math.max(...sizes)).toBeLessThan(1024);
    expect(historyBytes).toBeLessThan(16 * 1024);

    // The collection's child workflow (every run of it, if it continued as new) holds resume points only.
    const childId = `${workflowIdFor(lease.uuid)}-collect-v1`;
    const runs: string[] = [];
    const pageKeys: (number | null | undefined)[] = [];
    for await (const wf of stack.client.workflow.list({ query: `WorkflowId = '${childId}'` })) runs.push(wf.runId);
    expect(runs.length).toBeGreaterThan(0);
    for (const runId of runs) {
      const child = await fetchHistory(stack.client, childId, runId);
      const childBytes = temporal.api.history.v1.History.encode(child).finish().length;
      for (const e of child.events!)
        if (e.activityTaskScheduledEventAttributes)
          pageKeys.push(e.activityTaskScheduledEventAttributes.priority?.priorityKey);
      console.log(
        `collection run ${runId}: ${child.events!.length} events, ${childBytes} bytes, largest payload ${Math.max(...payloadSizes(child))} bytes`,
      );
      // And each collection run: payloads under 1 KiB, at most 150 pages in under 512 KiB.
      expect(Math.max(...payloadSizes(child))).toBeLessThan(1024);
      expect(childBytes).toBeLessThan(512 * 1024);
    }
    // The live run's key (inherited by the child) for the first page, one level ahead for every
    // later page, so a lease in flight finishes before new leases' first pages.
    expect(pageKeys.length).toBeGreaterThan(50);
    expect(pageKeys.filter((k) => k === LIVE_RUN_PRIORITY)).toHaveLength(1);
    expect(pageKeys.filter((k) => k === LIVE_RUN_PRIORITY - 1)).toHaveLength(pageKeys.length - 1);
  }, 300_000);
});

// The worker process killed with SIGKILL (no shutdown, no last heartbeat, no goodbye) in the
// middle of work, then a new worker process started, as an orchestrator would. The worker is the
// real CLI, `lease-costs worker`, in a child process of its own. One case per test file (each with
// its own stack), so the three cases, each mostly waiting out a timeout, run side by side.
//
// Nothing tells the server that the attempt died: it finds out when the attempt times out, 30 s
// for a Cost Explorer page (start-to-close), for writeReport and publishReport (heartbeat).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ManagedProcess } from '../../support/tools';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { workflowIdFor } from '../../src/infrastructure/client';
import type { LeaseStatus } from '../../src/domain/schemas';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import {
  assertBatchOutcome,
  awaitCompletion,
  ceCallsFor,
  eventsFor,
  killHard,
  makeLeases,
  pageFetchCounts,
  refetchedPages,
  startChildWorker,
  startLeases,
  workerEnv,
} from './harness';

export type WorkerCrashCase = 'mid-pagination' | 'mid-upload' | 'after-put-events';

export function workerCrashCases(only: WorkerCrashCase): void {
  const RECOVERY_TIMEOUT_MS = 200_000;
  let stack: Stack;
  let proxy: FaultProxy;
  let env: NodeJS.ProcessEnv;
  const workers: ManagedProcess[] = [];

  async function startWorker(): Promise<ManagedProcess> {
    const w = await startChildWorker(env);
    workers.push(w);
    return w;
  }

  beforeAll(async () => {
    stack = await startStack();
    proxy = await startFaultProxy(stack.motoEndpoint);
    // moto serves every service on one endpoint, so one proxy fronts S3 and EventBridge alike.
    env = workerEnv(stack, { AWS_ENDPOINT_URL_S3: proxy.endpoint, AWS_ENDPOINT_URL_EVENTBRIDGE: proxy.endpoint });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    proxy.clearRules();
    stack.ce.resetFaults();
    stack.ce.setPageSize(500);
  });
  afterAll(async () => {
    await stack?.stop();
    await proxy?.close();
  });

  const successfulPages = (lease: Parameters<typeof ceCallsFor>[1]) =>
    ceCallsFor(stack, lease).filter((c) => c.status === 200).length;

  describe('worker killed with SIGKILL', () => {
    if (only === 'mid-pagination')
      it(
        'mid-pagination: a new worker finishes every lease, and only the page in flight is fetched again',
        async () => {
          stack.ce.setPageSize(2);
          stack.ce.setDelayMs(1_000); // ~1 page per second per lease: pagination is slow enough to be caught
          // At least 10 pages each: 2 that find the regions, 8 of resources per monthly period in the window.
          const leases = makeLeases(stack, 3, { resources: 16 });
          const first = await startWorker();
          await startLeases(stack, leases);
          await waitFor(
            async () => (leases.every((l) => successfulPages(l) >= 4) ? true : undefined),
            60_000,
            '4 pages of every lease',
          );

          await killHard(first);
          const killedAt = Date.now();
          const pagesAtKill = leases.map(successfulPages);
          stack.ce.setDelayMs(200);
          await startWorker();

          const results = await awaitCompletion(stack.client, leases, RECOVERY_TIMEOUT_MS);
          console.info(
            `[faults] mid-pagination kill: all ${leases.length} leases completed ${((Date.now() - killedAt) / 1000).toFixed(0)} s after the kill`,
          );
          await assertBatchOutcome(stack, leases, results);

          for (const [i, lease] of leases.entries()) {
            // Every page the collection staged was fetched; the count is the collection's own, not a
            // guess (a window across a month boundary has twice the pages: two MONTHLY periods).
            const { pagesFetched } = await stack.client.workflow
              .getHandle(workflowIdFor(lease.uuid))
              .query<LeaseStatus>('status');
            expect(pagesAtKill[i]!, `pages of ${lease.uuid} read before the kill`).toBeLessThan(pagesFetched);
            expect(pageFetchCounts(stack, lease).size, `distinct pages of ${lease.uuid}`).toBe(pagesFetched);
            // The retry resumes from the last recorded resume point: at most the page in flight at the
            // kill (its answer went nowhere) is fetched a second time.
            expect(
              refetchedPages(stack, lease).length,
              `pages of ${lease.uuid} fetched twice: ${refetchedPages(stack, lease).join('; ')}`,
            ).toBeLessThanOrEqual(1);
          }
        },
        RECOVERY_TIMEOUT_MS + 120_000,
      );

    if (only === 'mid-upload')
      it(
        'mid-upload (PutObject of the report held by S3): a new worker writes the report once and publishes',
        async () => {
          const isReportPut = (r: { method: string; key?: string }) =>
            r.method === 'PUT' && /\/lease-costs-[^/]+-v\d+\.csv$/.test(r.key ?? '');
          const hold = proxy.addRule({ match: isReportPut, hold: true });
          const leases = makeLeases(stack, 3);
          const first = await startWorker();
          await startLeases(stack, leases);
          const held = await hold.waitForMatches(leases.length, 60_000);
          expect(new Set(held.map((r) => r.key)).size).toBe(leases.length);

          await killHard(first);
          const killedAt = Date.now();
          // The held uploads died with the worker: none of them reached moto.
          await waitFor(
            async () =>
              proxy.log.filter((e) => isReportPut(e) && e.outcome === 'aborted').length === leases.length
                ? true
                : undefined,
            10_000,
            'the held uploads to be aborted',
          );
          hold.release();
          await startWorker();

          const results = await awaitCompletion(stack.client, leases, RECOVERY_TIMEOUT_MS);
          console.info(
            `[faults] mid-upload kill: all ${leases.length} leases completed ${((Date.now() - killedAt) / 1000).toFixed(0)} s after the kill`,
          );
          await assertBatchOutcome(stack, leases, results);

          for (const [i, lease] of leases.entries()) {
            const puts = proxy.log.filter((e) => isReportPut(e) && e.key === results[i]!.key);
            expect(
              puts.map((p) => p.outcome),
              `uploads of ${lease.uuid}`,
            ).toEqual(['aborted', 'forwarded']);
            expect(puts[1]!.status).toBe(200);
          }
        },
        RECOVERY_TIMEOUT_MS + 120_000,
      );

    if (only === 'after-put-events')
      it(
        'after PutEvents, before publishReport completes: the retry publishes again under the same idempotency key',
        async () => {
          const isPutEvents = (r: { target?: string }) => r.target === 'AWSEvents.PutEvents';
          const since = proxy.log.length;
          const putEvents = () => proxy.log.slice(since).filter(isPutEvents);
          const hold = proxy.addRule({ match: isPutEvents, holdResponse: true });
          const leases = makeLeases(stack, 3);
          const first = await startWorker();
          await startLeases(stack, leases);
          // EventBridge has taken every lease's event; its answers wait at the proxy.
          await hold.waitForMatches(leases.length, 60_000);
          await waitFor(
            async () => (putEvents().filter((e) => e.status === 200).length === leases.length ? true : undefined),
            10_000,
            'EventBridge to answer every PutEvents',
          );

          await killHard(first);
          const killedAt = Date.now();
          hold.release();
          await startWorker();

          const results = await awaitCompletion(stack.client, leases, RECOVERY_TIMEOUT_MS);
          console.info(
            `[faults] after-PutEvents kill: all ${leases.length} leases completed ${((Date.now() - killedAt) / 1000).toFixed(0)} s after the kill`,
          );
          await assertBatchOutcome(stack, leases, results);

          expect(putEvents().map((e) => [e.outcome, e.status])).toEqual([
            ...leases.map(() => ['aborted', 200]),
            ...leases.map(() => ['forwarded', 200]),
          ]);
          for (const lease of leases) {
            // The duplicate a consumer must expect: two events, one idempotency key.
            const events = await eventsFor(stack, lease);
            expect(
              events.map((e) => (e.detail as { idempotencyKey?: string }).idempotencyKey),
              `events of ${lease.uuid}`,
            ).toEqual([`${lease.uuid}:v1`, `${lease.uuid}:v1`]);
          }
        },
        RECOVERY_TIMEOUT_MS + 120_000,
      );
  });
}

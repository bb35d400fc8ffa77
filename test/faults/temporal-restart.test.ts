// The Temporal server going away and coming back (same SQLite file), under a running worker: once
// while the workflows sleep through the settle delay, once while their activities run.
// Own dev server, not the shared one: restarting that would break every other test file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../../src/infrastructure/client';
import { startTemporalDevServer, type DevServer } from '../../support/dev-server';
import type { LeaseStatus } from '../../src/domain/schemas';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import {
  assertBatchOutcome,
  awaitCompletion,
  ceCallsFor,
  makeLeases,
  refetchedPages,
  startLeases,
  untilCollecting,
  type FaultLease,
} from './harness';

let dir: string;
let dbFile: string;
let server: DevServer;
let stack: Stack;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lease-costs-faults-'));
  dbFile = join(dir, 'temporal.sqlite');
  server = await startTemporalDevServer({ uiPort: false, dbFile });
  stack = await startStack({ temporalAddress: server.address });
  await stack.startWorker();
});
afterAll(async () => {
  await stack?.stop();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Stops the server (SIGTERM), keeps it down for `downMs`, then starts it again on the same port
 * and file. `restartingAt`: nothing can have reached the server between `stoppingAt` and then.
 */
async function restartServer(downMs: number): Promise<{ stoppingAt: number; restartingAt: number; upAt: number }> {
  const { port } = server;
  const stoppingAt = Date.now();
  await server.stop();
  await sleep(downMs);
  const restartingAt = Date.now();
  server = await startTemporalDevServer({ port, uiPort: false, dbFile });
  const upAt = Date.now();
  console.info(
    `[faults] Temporal server down ${((upAt - stoppingAt) / 1000).toFixed(1)} s (stop ${((restartingAt - stoppingAt - downMs) / 1000).toFixed(1)} s, start ${((upAt - restartingAt) / 1000).toFixed(1)} s)`,
  );
  return { stoppingAt, restartingAt, upAt };
}

const status = (lease: FaultLease) =>
  stack.client.workflow.getHandle(workflowIdFor(lease.uuid)).query<LeaseStatus>('status');

describe('Temporal server restart', () => {
  it('while the workflows sleep: the timers fire after the restart and every lease completes', async () => {
    const leases = makeLeases(stack, 3, { settleInMs: 12_000 });
    await startLeases(stack, leases);
    for (const lease of leases) {
      await waitFor(
        async () => ((await status(lease)).phase === 'waiting' ? true : undefined),
        20_000,
        `${lease.uuid} waiting`,
      );
    }
    // Down across the moment the timers are due.
    const { stoppingAt, restartingAt } = await restartServer(12_000);
    const dueAt = leases.map((l) => Date.parse(l.terminatedAt) + 3600_000);
    expect(Math.min(...dueAt), 'the workflows were still asleep when the server stopped').toBeGreaterThan(stoppingAt);
    expect(Math.max(...dueAt), 'the settle timers were due while the server was down').toBeLessThan(restartingAt);
    const results = await awaitCompletion(stack.client, leases, 50_000);
    await assertBatchOutcome(stack, leases, results);
    // Collection began only once the server was back: the timers fired late, not lost, not early.
    for (const lease of leases) expect(ceCallsFor(stack, lease).every((c) => c.at >= restartingAt)).toBe(true);
  });

  it('while the activities run: collection goes on and every lease completes exactly', async () => {
    stack.ce.setPageSize(2);
    stack.ce.setDelayMs(700);
    const leases = makeLeases(stack, 3, { resources: 12 }); // 6 pages each
    try {
      await startLeases(stack, leases);
      await untilCollecting(stack, leases);
      const pagesBefore = leases.map((l) => ceCallsFor(stack, l).filter((c) => c.status === 200).length);
      await restartServer(2_000);
      // The restart happened mid-pagination (6 pages per lease).
      expect(
        pagesBefore.some((n) => n < 6),
        `pages read before the restart: ${pagesBefore.join(', ')}`,
      ).toBe(true);
      const results = await awaitCompletion(stack.client, leases, 50_000);
      await assertBatchOutcome(stack, leases, results);
      for (const lease of leases)
        expect(refetchedPages(stack, lease), `pages of ${lease.uuid} fetched twice`).toEqual([]);
    } finally {
      stack.ce.resetFaults();
      stack.ce.setPageSize(500);
    }
  });
});

// Cost Explorer's limit is per account, whoever calls. Two worker processes on one task queue, a
// burst of leases at once, and a fake that throttles beyond 5 accepted calls in any trailing second:
// the pacer's slots must keep every call under it. And the pacer itself: spacing, bad requests,
// continue-as-new.
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pacedCallSlots, requestCallSlot } from '../../src/infrastructure/call-pacer';
import { spawnManaged, type ManagedProcess } from '../../support/tools';
import {
  callSlotUpdate,
  costExplorerPacerWorkflow,
  pacerWorkflowIdOf,
  type CallSlot,
} from '../../workflows/cost-explorer-pacer';
import {
  assertBatchOutcome,
  awaitCompletion,
  ceCallsFor,
  makeLeases,
  startChildWorker,
  startLeases,
  workerEnv,
} from '../faults/harness';
import { mostWithinOneSecond } from '../../support/fakes/cost-explorer';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { fetchHistory, recordHistory, testClient, uniqueTaskQueue, workerOptionsBase } from '../helpers/temporal';

const STAMP_PROXY = new URL('../helpers/arrival-stamp-proxy.ts', import.meta.url).pathname;

describe('Cost Explorer calls from two worker processes', () => {
  let stack: Stack;
  let workers: ManagedProcess[] = [];

  let stamps: ManagedProcess | undefined;

  beforeAll(async () => {
    stack = await startStack({ ce: { throttle: { maxRps: 5 } }, env: { COST_EXPLORER_MAX_RPS: '4' } });
    // Arrivals are stamped by a proxy in a process of its own: the fake, in this busy process,
    // would stamp each call when its event loop gets to it, late and bunched after any pause.
    stamps = spawnManaged(process.execPath, ['--import', 'tsx', STAMP_PROXY, String(stack.ce.port)]);
    const { port } = await waitFor(
      async () => {
        const line = /\{"port":\d+\}/.exec(stamps!.outputTail())?.[0];
        return line ? (JSON.parse(line) as { port: number }) : undefined;
      },
      30_000,
      'the arrival-stamping proxy',
    );
    // Both workers in processes of their own, as deployed.
    const env = workerEnv(stack, {
      COST_EXPLORER_MAX_RPS: '4',
      AWS_ENDPOINT_URL_COST_EXPLORER: `http://127.0.0.1:${port}`,
    });
    workers = await Promise.all([1, 2].map(() => startChildWorker(env)));
  }, 120_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop(10_000)));
    await stamps?.stop();
    await stack?.stop();
  });

  it('a burst of 32 leases: no call throttled, never more than 5 in a second, pages served by both processes', async () => {
    const leases = makeLeases(stack, 32, { resources: 2 });
    await startLeases(stack, leases);
    const results = await awaitCompletion(stack.client, leases, 90_000);
    await assertBatchOutcome(stack, leases, results);

    const calls = leases.flatMap((l) => ceCallsFor(stack, l));
    // Slots are 250 ms apart, so six calls span 1,250 ms; what lateness took off it, should this fail.
    const arrivals = calls.map((c) => c.at).sort((a, b) => a - b);
    const tightestSix = Math.min(...arrivals.slice(5).map((t, i) => t - arrivals[i]!));
    expect(
      calls.filter((c) => c.status !== 200).map((c) => c.errorCode),
      `refused calls (six calls within ${tightestSix} ms at the tightest)`,
    ).toEqual([]);
    // Per lease: one query finds its region, one reads its resources there.
    expect(calls.length).toBe(2 * leases.length);
    expect(mostWithinOneSecond(calls.map((c) => c.at)), 'calls within one second').toBeLessThanOrEqual(5);

    const identities = new Set<string>();
    for (const lease of leases) {
      const history = await fetchHistory(stack.client, `lease-costs-${lease.uuid}-collect-v1`);
      for (const e of history.events ?? [])
        if (e.activityTaskStartedEventAttributes?.identity)
          identities.add(e.activityTaskStartedEventAttributes.identity);
    }
    expect(identities.size, 'worker processes that ran Cost Explorer pages').toBe(2);
  }, 150_000);
});

describe('the pacer workflow', () => {
  const client = testClient();
  const taskQueue = uniqueTaskQueue('pacer');
  let worker: Worker;
  let running: Promise<void>;

  beforeAll(async () => {
    worker = await Worker.create({ ...(await workerOptionsBase()), taskQueue });
    running = worker.run();
  });
  afterAll(async () => {
    worker.shutdown();
    await running;
  });

  it('gives concurrent requests distinct slots one interval apart, and waits for them', async () => {
    const acquire = pacedCallSlots(client, taskQueue, 20);
    const doneAt = await Promise.all(
      Array.from({ length: 8 }, async () => {
        await acquire();
        return Date.now();
      }),
    );
    const history = await fetchHistory(client, pacerWorkflowIdOf(taskQueue));
    const slots = (history.events ?? [])
      .filter((e) => e.workflowExecutionUpdateCompletedEventAttributes)
      .map(
        (e) =>
          (
            JSON.parse(
              Buffer.from(
                e.workflowExecutionUpdateCompletedEventAttributes!.outcome!.success!.payloads![0]!.data!,
              ).toString(),
            ) as CallSlot
          ).at,
      )
      .sort((a, b) => a - b);
    // A caller that woke up too late for its slot asked again: at least one slot per caller.
    expect(slots.length).toBeGreaterThanOrEqual(8);
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBeGreaterThanOrEqual(50);
    // Each caller returns no earlier than its own slot, so the k-th return comes after the k-th slot.
    doneAt.sort((a, b) => a - b);
    for (let k = 0; k < doneAt.length; k++) expect(doneAt[k]!, `return ${k + 1}`).toBeGreaterThanOrEqual(slots[k]!);
  });

  it('refuses a bad interval with a clear error, and records nothing for it', async () => {
    // One slot starts the pacer. Whether this process is quick enough to use it is not the point here.
    await requestCallSlot(client, taskQueue, 50);
    const handle = client.workflow.getHandle(pacerWorkflowIdOf(taskQueue));
    const before = (await handle.fetchHistory()).events?.length;
    const err = await handle.executeUpdate(callSlotUpdate, { args: [{ intervalMs: 0 }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(String((err as WorkflowUpdateFailedError).cause?.message)).toMatch(
      /intervalMs must be in \(0, 60000\], got 0/,
    );
    expect((await handle.fetchHistory()).events?.length).toBe(before);
  });

  it('a caller whose answers arrive late gets a slot it can use: its lateness becomes lead on the next request', async () => {
    // Every answer reaches this caller 150 ms after the server sent it, three intervals at 20/s: an
    // idle pacer's "now" is stale by then, every time, unless the caller asks for lead.
    const late = new Proxy(client, {
      get(target, key) {
        if (key === 'workflow')
          return new Proxy(target.workflow, {
            get(workflow, name) {
              const value = Reflect.get(workflow, name) as unknown;
              if (name !== 'executeUpdateWithStart') return typeof value === 'function' ? value.bind(workflow) : value;
              return async (...args: Parameters<typeof workflow.executeUpdateWithStart>) => {
                const answer = await workflow.executeUpdateWithStart(...args);
                await new Promise((r) => setTimeout(r, 150));
                return answer;
              };
            },
          });
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    // A running pacer, idle: the last slot it handed out is behind us.
    await requestCallSlot(client, taskQueue, 50);
    await new Promise((r) => setTimeout(r, 200));
    const before = (await fetchHistory(client, pacerWorkflowIdOf(taskQueue))).events?.length ?? 0;
    await pacedCallSlots(late, taskQueue, 20)();
    const requests = ((await fetchHistory(client, pacerWorkflowIdOf(taskQueue))).events ?? [])
      .slice(before)
      .flatMap((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args?.payloads ?? [])
      .map((p) => JSON.parse(Buffer.from(p.data!).toString()) as { intervalMs: number; leadMs?: number });
    expect(requests[0]).toEqual({ intervalMs: 50 });
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(requests.at(-1)!.leadMs).toBeGreaterThanOrEqual(300);
  });

  it('a terminated pacer is replaced by the next request', async () => {
    // Slots as such, not whether this process is quick enough to use them.
    const acquire = () => requestCallSlot(client, taskQueue, 50);
    await acquire();
    const handle = client.workflow.getHandle(pacerWorkflowIdOf(taskQueue));
    const { runId } = await handle.describe();
    await handle.terminate('operator cleanup');
    await acquire();
    const next = await handle.describe();
    expect(next.runId).not.toBe(runId);
    expect(next.status.name).toBe('RUNNING');
  });

  it('continues as new after its slots per run, carrying the next free slot over', async () => {
    const workflowId = `${pacerWorkflowIdOf(taskQueue)}-can`;
    const handle = await client.workflow.start(costExplorerPacerWorkflow, {
      workflowId,
      taskQueue,
      args: [{ nextFreeAt: 0, slotsPerRun: 3 }],
    });
    const slots: number[] = [];
    for (let i = 0; i < 5; i++)
      slots.push(
        (await client.workflow.getHandle(workflowId).executeUpdate(callSlotUpdate, { args: [{ intervalMs: 1000 }] }))
          .at,
      );
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBeGreaterThanOrEqual(1000);

    const first = await client.workflow.getHandle(workflowId, handle.firstExecutionRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    await recordHistory('pacer-continued-as-new', await fetchHistory(client, workflowId, handle.firstExecutionRunId));
    await client.workflow.getHandle(workflowId).terminate('test done');
  });
});

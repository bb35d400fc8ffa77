import { setTimeout as sleep } from 'node:timers/promises';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { PACER_PRIORITY } from '../domain/priority';
import { callSlotUpdate, pacerWorkflowIdOf, type costExplorerPacerWorkflow } from '../../workflows/cost-explorer-pacer';

/** A pacer that does not answer in this long fails the attempt (no worker polls its queue, or Temporal is down). */
export const SLOT_REQUEST_TIMEOUT_MS = 10_000;
/**
 * Later than a quarter interval after its slot, a call is given up. Cost Explorer counts arrivals,
 * and the way there (a descheduled process, a busy loop) adds lateness of its own: half an
 * interval leaves too little room for it on a loaded machine (RELIABILITY.md, the pacer row).
 */
export const slotIsStale = (at: number, now: number, intervalMs: number) => now - at > intervalMs / 4;

/** Slots a caller may find stale in a row before the attempt fails (and the engine retries it). */
const MAX_STALE_SLOTS = 20;

/**
 * One slot from the task queue's pacer workflow, started by the first request: the wall-clock time
 * `at` the caller's call may go out. No answer within SLOT_REQUEST_TIMEOUT_MS fails.
 */
export function requestCallSlot(client: Client, taskQueue: string, intervalMs: number): Promise<{ at: number }> {
  return client.withDeadline(Date.now() + SLOT_REQUEST_TIMEOUT_MS, () =>
    client.workflow.executeUpdateWithStart(callSlotUpdate, {
      args: [{ intervalMs }],
      startWorkflowOperation: new WithStartWorkflowOperation<typeof costExplorerPacerWorkflow>(
        'costExplorerPacerWorkflow',
        {
          workflowId: pacerWorkflowIdOf(taskQueue),
          taskQueue,
          args: [{ nextFreeAt: 0 }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          // Ahead of every lease's workflow tasks, so a burst's backlog never delays a slot's answer.
          priority: { priorityKey: PACER_PRIORITY },
          staticSummary: `Spaces Cost Explorer calls of task queue ${taskQueue}`,
        },
      ),
    }),
  );
}

/**
 * Waits for a Cost Explorer call slot from the task queue's pacer workflow (started by the first
 * request), so calls from every worker and the `report` command go out at most `perSecond` per
 * second, evenly spaced. A caller that wakes later than a quarter interval after its slot (a busy
 * event loop, a slow answer) gives the slot up and asks again, so late calls never bunch up with
 * the next ones. Slots are wall-clock times: worker clocks must be NTP-synced, as AWS hosts are.
 */
export function pacedCallSlots(client: Client, taskQueue: string, perSecond: number): () => Promise<void> {
  const intervalMs = 1000 / perSecond;
  const requestSlot = () => requestCallSlot(client, taskQueue, intervalMs);
  return async () => {
    for (let stale = 0; stale < MAX_STALE_SLOTS; stale++) {
      const { at } = await requestSlot();
      // Timers may fire a millisecond early by the wall clock; the slot is a wall-clock time.
      for (let wait = at - Date.now(); wait > 0; wait = at - Date.now()) await sleep(wait);
      if (!slotIsStale(at, Date.now(), intervalMs)) return;
    }
    throw new Error(
      `${MAX_STALE_SLOTS} Cost Explorer slots in a row were stale by the time this process could use them`,
    );
  };
}

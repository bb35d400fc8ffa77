import { setTimeout as sleep } from 'node:timers/promises';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { LIVE_RUN_PRIORITY, PACER_PRIORITY } from '../domain/priority';
import {
  callSlotUpdate,
  MAX_LEAD_MS,
  pacerWorkflowIdOf,
  type costExplorerPacerWorkflow,
} from '../../workflows/cost-explorer-pacer';

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

/** This process could not use any of its last slots in time: not a pacer that failed to answer. */
export class StaleSlotsError extends Error {
  override readonly name = 'StaleSlotsError';
}

/**
 * One slot from the task queue's pacer workflow, started by the first request: the wall-clock time
 * `at` the caller's call may go out. No answer within SLOT_REQUEST_TIMEOUT_MS fails.
 */
export function requestCallSlot(
  client: Client,
  taskQueue: string,
  intervalMs: number,
  leadMs = 0,
): Promise<{ at: number }> {
  return client.withDeadline(Date.now() + SLOT_REQUEST_TIMEOUT_MS, () =>
    client.workflow.executeUpdateWithStart(callSlotUpdate, {
      args: [leadMs > 0 ? { intervalMs, leadMs } : { intervalMs }],
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
 * the next ones. A stale slot's lateness becomes lead on the next request, so an idle pacer's
 * slot ("now" as of its workflow task) is still ahead when a slow answer arrives. Slots are
 * wall-clock times: worker clocks must be NTP-synced, as AWS hosts are. The process's waiting
 * calls share their slots by priority (sharedSlots).
 */
export function pacedCallSlots(
  client: Client,
  taskQueue: string,
  perSecond: number,
): (priorityKey?: number) => Promise<void> {
  const intervalMs = 1000 / perSecond;
  return sharedSlots(async () => {
    let leadMs = 0;
    for (let stale = 0; stale < MAX_STALE_SLOTS; stale++) {
      const { at } = await requestCallSlot(client, taskQueue, intervalMs, leadMs);
      // Timers may fire a millisecond early by the wall clock; the slot is a wall-clock time.
      for (let wait = at - Date.now(); wait > 0; wait = at - Date.now()) await sleep(wait);
      const now = Date.now();
      if (!slotIsStale(at, now, intervalMs)) return;
      // Twice the lateness: the next answer may be slower still.
      leadMs = Math.min(MAX_LEAD_MS, Math.ceil(2 * (now - at)));
    }
    throw new StaleSlotsError(
      `${MAX_STALE_SLOTS} Cost Explorer slots in a row were stale by the time this process could use them`,
    );
  });
}

/**
 * The slots of one process's waiting calls, pooled: each call asks for one slot, and each slot that
 * comes due goes to the most urgent call still waiting (lowest priority key, then first come), not
 * to the call that asked for it. The pacer grants slots in request order, and a worker's calls
 * have all asked before a lease's later page (which outranks first pages on the task queue)
 * arrives: without pooling it would wait behind every one of them. A failed request fails the
 * least urgent waiting call; the engine retries its activity.
 */
export function sharedSlots(getSlot: () => Promise<void>): (priorityKey?: number) => Promise<void> {
  const waiting: { key: number; seq: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let arrivals = 0;
  const mostUrgent = (a: (typeof waiting)[number], b: (typeof waiting)[number]) => a.key - b.key || a.seq - b.seq;
  const take = (which: 'first' | 'last') => {
    waiting.sort(mostUrgent);
    return which === 'first' ? waiting.shift() : waiting.pop();
  };
  return (priorityKey = LIVE_RUN_PRIORITY) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ key: priorityKey, seq: arrivals++, resolve, reject });
      getSlot().then(
        () => take('first')?.resolve(),
        (err: unknown) => take('last')?.reject(err),
      );
    });
}

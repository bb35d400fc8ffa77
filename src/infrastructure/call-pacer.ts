import { setTimeout as sleep } from 'node:timers/promises';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { callSlotUpdate, pacerWorkflowIdOf, type costExplorerPacerWorkflow } from '../../workflows/cost-explorer-pacer';

/** A pacer that does not answer in this long fails the attempt; the engine retries it. */
const SLOT_REQUEST_TIMEOUT_MS = 10_000;
/**
 * Slots are about a second out at most, because the server dispatches page activities at the same
 * rate. One further out means this host's clock is behind the server's: going early beats waiting
 * past the activity's timeout on every attempt.
 */
const MAX_SLOT_WAIT_MS = 10_000;

/**
 * Waits for a Cost Explorer call slot from the task queue's pacer workflow (started by the first
 * request), so calls from every worker go out at most `perSecond` per second, evenly spaced.
 */
export function pacedCallSlots(client: Client, taskQueue: string, perSecond: number): () => Promise<void> {
  const intervalMs = 1000 / perSecond;
  const workflowId = pacerWorkflowIdOf(taskQueue);
  return async () => {
    const slotAt = await client.withDeadline(Date.now() + SLOT_REQUEST_TIMEOUT_MS, () =>
      client.workflow.executeUpdateWithStart(callSlotUpdate, {
        args: [{ intervalMs }],
        startWorkflowOperation: new WithStartWorkflowOperation<typeof costExplorerPacerWorkflow>('costExplorerPacerWorkflow', {
          workflowId,
          taskQueue,
          args: [{ nextFreeAt: 0 }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          staticSummary: `Spaces Cost Explorer calls of task queue ${taskQueue}`,
        }),
      }));
    const until = Math.min(slotAt, Date.now() + MAX_SLOT_WAIT_MS);
    // Timers may fire a millisecond early by the wall clock; the slot is a wall-clock time.
    for (let wait = until - Date.now(); wait > 0; wait = until - Date.now()) await sleep(wait);
  };
}

import { setTimeout as sleep } from 'node:timers/promises';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { callSlotUpdate, pacerWorkflowIdOf, type costExplorerPacerWorkflow } from '../workflows/cost-explorer-pacer';

/** A pacer that does not answer in this long fails the attempt; the engine retries it. */
const SLOT_REQUEST_TIMEOUT_MS = 10_000;

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
    // Timers may fire a millisecond early by the wall clock; the slot is a wall-clock time.
    for (let wait = slotAt - Date.now(); wait > 0; wait = slotAt - Date.now()) await sleep(wait);
  };
}

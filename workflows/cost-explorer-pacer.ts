import { allHandlersFinished, condition, continueAsNew, defineUpdate, setHandler, workflowInfo } from '@temporalio/workflow';

/** Asks for the next Cost Explorer call slot; answers the epoch milliseconds at which the call may go out. */
export const callSlotUpdate = defineUpdate<number, [{ intervalMs: number }]>('callSlot');

export const pacerWorkflowIdOf = (taskQueue: string) => `cost-explorer-pacer-${taskQueue}`;

export interface PacerState {
  /** The earliest time (epoch ms) the next slot may have. */
  nextFreeAt: number;
  /** Slots per run before continue-as-new; tests lower it. */
  slotsPerRun?: number;
}

/** Five events per slot when requests come one at a time: 500 slots keep a run near 2,500 events and 400 KiB. */
const SLOTS_PER_RUN = 500;

/** The slot a request gets: never before `now`, and one interval after the previous one. */
export function nextSlot(nextFreeAt: number, now: number, intervalMs: number): { at: number; nextFreeAt: number } {
  const at = Math.max(now, nextFreeAt);
  return { at, nextFreeAt: at + intervalMs };
}

/**
 * Hands out Cost Explorer call slots, one interval apart, to every worker of a task queue. The
 * queue's server-side rate limit holds the average, but its token bucket starts full, so after an
 * idle spell it lets a second's worth of calls out at once on top of the steady rate; slots spread
 * those out too. One long-lived run per task queue, started by the first request.
 */
export async function costExplorerPacerWorkflow(state: PacerState): Promise<never> {
  let { nextFreeAt } = state;
  let granted = 0;
  setHandler(
    callSlotUpdate,
    ({ intervalMs }) => {
      // Workflow time is this task's start: close to the caller's now, and the same on replay.
      const slot = nextSlot(nextFreeAt, Date.now(), intervalMs);
      nextFreeAt = slot.nextFreeAt;
      granted++;
      return slot.at;
    },
    {
      validator: ({ intervalMs }) => {
        if (!(intervalMs > 0 && intervalMs <= 60_000)) throw new RangeError(`intervalMs must be in (0, 60000], got ${intervalMs}`);
      },
    },
  );
  await condition(() => granted >= (state.slotsPerRun ?? SLOTS_PER_RUN) || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  return continueAsNew<typeof costExplorerPacerWorkflow>({ ...state, nextFreeAt });
}

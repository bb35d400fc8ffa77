import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineUpdate,
  setHandler,
  setWorkflowOptions,
  workflowInfo,
} from '@temporalio/workflow';
import { versioningBehavior } from './versioning';

/**
 * Asks for the next Cost Explorer call slot; `at` is the epoch milliseconds at which the call may go
 * out. `leadMs` asks for a slot no sooner than that long after the pacer's now: a caller whose
 * answers arrive late (a slow round trip, a busy host) would otherwise find an idle pacer's "now"
 * already stale every time.
 */
export const callSlotUpdate = defineUpdate<CallSlot, [SlotRequest]>('callSlot');

export interface SlotRequest {
  intervalMs: number;
  leadMs?: number;
}

/** The most lead a caller may ask for: beyond it, its slots would go unused for too long. */
export const MAX_LEAD_MS = 5_000;

export interface CallSlot {
  at: number;
}

export const pacerWorkflowIdOf = (taskQueue: string) => `cost-explorer-pacer-${taskQueue}`;

export interface PacerState {
  /** The earliest time (epoch ms) the next slot may have. */
  nextFreeAt: number;
  /** Slots per run before continue-as-new; tests lower it. */
  slotsPerRun?: number;
}

/** Five events per slot when requests come one at a time: 500 slots keep a run near 2,500 events and 400 KiB. */
const SLOTS_PER_RUN = 500;

/** The slot a request gets: never before `now + leadMs`, and one interval after the previous one. */
export function nextSlot(
  nextFreeAt: number,
  now: number,
  intervalMs: number,
  leadMs = 0,
): { at: number; nextFreeAt: number } {
  const at = Math.max(now + leadMs, nextFreeAt);
  return { at, nextFreeAt: at + intervalMs };
}

// Auto-upgrade: the pacer never ends (it continues as new), and a pinned one would keep an old build
// alive for ever and stall every Cost Explorer call once that build's workers stop. It moves to the
// current build at its next task, so a change to it must stay replay-safe (patched()).
setWorkflowOptions(versioningBehavior('AUTO_UPGRADE'), costExplorerPacerWorkflow);

/**
 * The one Cost Explorer rate limiter: hands out call slots, one interval apart, to every worker of
 * a task queue and to the `report` command. One long-lived run per task queue, started by the
 * first request (update-with-start), so it needs no server configuration.
 */
export async function costExplorerPacerWorkflow(state: PacerState): Promise<never> {
  let { nextFreeAt } = state;
  let granted = 0;
  setHandler(
    callSlotUpdate,
    ({ intervalMs, leadMs }) => {
      // Workflow time is this task's start: close to the caller's now, and the same on replay.
      const slot = nextSlot(nextFreeAt, Date.now(), intervalMs, leadMs);
      nextFreeAt = slot.nextFreeAt;
      granted++;
      return { at: slot.at };
    },
    {
      validator: ({ intervalMs, leadMs }) => {
        if (!(intervalMs > 0 && intervalMs <= 60_000))
          throw new RangeError(`intervalMs must be in (0, 60000], got ${intervalMs}`);
        if (leadMs !== undefined && !(leadMs >= 0 && leadMs <= MAX_LEAD_MS))
          throw new RangeError(`leadMs must be in [0, ${MAX_LEAD_MS}], got ${leadMs}`);
      },
    },
  );
  await condition(() => granted >= (state.slotsPerRun ?? SLOTS_PER_RUN) || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  return continueAsNew<typeof costExplorerPacerWorkflow>({ ...state, nextFreeAt });
}

// Temporal task-queue priority keys: 1 is served first, 5 last, 3 when none is set. Matching
// serves every waiting task of a key before any of the next, within each task-queue partition; a
// self-hosted server does so only with the dynamic config matching.useNewMatcher=true
// (docs.temporal.io/develop/task-queue-priority-fairness). Child workflows and activities inherit
// their workflow's key unless given one. docs/operations.md, "Priority", has the whole scheme.

/** The pacer workflow: every Cost Explorer call waits for its answer, so its tasks go before any lease's. */
export const PACER_PRIORITY = 1;
/** A lease run from an ISB event (webhook, SQS) or an operator's `rerun`: Temporal's default key. */
export const LIVE_RUN_PRIORITY = 3;
/** A lease run from the ISB's lease list (reconcile, backfill): catch-up work that must not hold up live leases. */
export const LISTED_RUN_PRIORITY = 5;

/**
 * A Cost Explorer page's key: its run's key for the first page, one level ahead for every later
 * page, so the leases whose collection has begun finish before new ones start (a burst is served
 * lease by lease, not interleaved). A live lease's first page (3) still goes before a listed
 * lease's later pages (4). A run without a key has Temporal's default, the live key.
 */
export const costExplorerPagePriority = (runPriority: number | undefined, firstPage: boolean): number => {
  const run = runPriority ?? LIVE_RUN_PRIORITY;
  return firstPage ? run : Math.max(1, run - 1);
};

/**
 * Cost Explorer page activities run on a queue of their own, whose server-side dispatch rate is
 * COST_EXPLORER_MAX_RPS: one call per activity, so the cap holds across every worker.
 */
export const costExplorerQueueOf = (taskQueue: string) => `${taskQueue}-cost-explorer`;

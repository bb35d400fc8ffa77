/** Cost Explorer page activities run on a queue of their own, so a worker can bound how many wait for a pacer slot at once. */
export const costExplorerQueueOf = (taskQueue: string) => `${taskQueue}-cost-explorer`;

import { continueAsNew, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CollectionInput, CollectionProgress, CollectionResult } from '../activities/cost-explorer';
import { costExplorerQueueOf } from '../src/domain/task-queues';

export const pagesFetchedQuery = defineQuery<number>('pagesFetched');

/** Pages per run before continue-as-new: about 900 events and 250 KiB of history (scale.test.ts measures 100 pages). */
const PAGES_PER_RUN = 150;

/**
 * Every page of one lease's Cost Explorer data, one activity per call, so that the task queue's
 * server-side rate limit holds Cost Explorer under its quota across all workers. Pages go to S3;
 * only the small resume point travels between activities and runs.
 */
export async function collectCostsWorkflow(input: CollectionInput, resumed?: CollectionProgress): Promise<CollectionResult> {
  const { collectCostsPage } = proxyActivities<Activities>({
    taskQueue: costExplorerQueueOf(workflowInfo().taskQueue),
    startToCloseTimeout: '30 seconds',
    // Throttling and 5xx land here; the rate limit, not the backoff, paces the normal case.
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', nonRetryableErrorTypes: ['CostExplorerAccessDenied', 'CostExplorerRequestInvalid'] },
  });
  let progress = resumed;
  setHandler(pagesFetchedQuery, () => progress?.pages ?? 0);
  for (let page = 0; page < PAGES_PER_RUN; page++) {
    const step = await collectCostsPage.executeWithOptions(
      { startToCloseTimeout: '30 seconds', summary: `Cost Explorer page ${(progress?.pages ?? 0) + 1} for ${input.accountId}` },
      [input, progress],
    );
    if (step.done) return step.result;
    progress = step.progress;
  }
  return continueAsNew<typeof collectCostsWorkflow>(input, progress);
}

import { continueAsNew, defineQuery, proxyActivities, setHandler, setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CollectionInput, CollectionProgress, CollectionResult } from '../src/domain/collection';
import { ErrorType } from '../src/domain/errors';
import { costExplorerQueueOf } from '../src/domain/task-queues';
import { versioningBehavior } from './versioning';

export const pagesFetchedQuery = defineQuery<number>('pagesFetched');

/** Pages per run before continue-as-new: about 900 events and 250 KiB of history (scale.test.ts measures 100 pages). */
const PAGES_PER_RUN = 150;

// Pinned: the child starts on its parent's build (same task queue, same Deployment Version) and stays
// there, so the collection result it returns is the shape that parent's code reads. Minutes long.
setWorkflowOptions(versioningBehavior('PINNED'), collectCostsWorkflow);

/**
 * Every page of one lease's Cost Explorer data, one activity per call: a crash or a throttled call
 * repeats only the page in flight. Pages go to S3; only the small resume point travels between
 * activities and runs.
 */
export async function collectCostsWorkflow(input: CollectionInput, resumed?: CollectionProgress): Promise<CollectionResult> {
  const { collectCostsPage } = proxyActivities<Activities>({
    taskQueue: costExplorerQueueOf(workflowInfo().taskQueue),
    // The wait for a pacer slot (a few seconds: each worker runs at most 2 × COST_EXPLORER_MAX_RPS
    // pages at once) plus one call under the client's 20 s request timeout. Also how long a dead
    // worker's page takes to be retried elsewhere.
    startToCloseTimeout: '30 seconds',
    // Throttling and 5xx land here; the pacer, not the backoff, paces the normal case.
    retry: {
      initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds',
      nonRetryableErrorTypes: [ErrorType.CostExplorerAccessDenied, ErrorType.CostExplorerRequestInvalid],
    },
  });
  let progress = resumed;
  setHandler(pagesFetchedQuery, () => progress?.pages ?? 0);
  for (let page = 0; page < PAGES_PER_RUN; page++) {
    const step = await collectCostsPage.executeWithOptions(
      { summary: `Cost Explorer call ${(progress?.calls ?? 0) + 1} for ${input.accountId}` },
      [input, progress],
    );
    if (step.done) return step.result;
    progress = step.progress;
  }
  return continueAsNew<typeof collectCostsWorkflow>(input, progress);
}

import {
  continueAsNew,
  defineQuery,
  proxyActivities,
  setHandler,
  setWorkflowOptions,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CollectionInput, CollectionProgress, CollectionResult } from '../src/domain/collection';
import { costExplorerPagePriority } from '../src/domain/priority';
import { costExplorerPage } from './activity-options';
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
 * activities and runs. Every page after the first outranks first pages on the task queue
 * (costExplorerPagePriority), so a burst of leases is served lease by lease.
 */
export async function collectCostsWorkflow(
  input: CollectionInput,
  resumed?: CollectionProgress,
): Promise<CollectionResult> {
  const { collectCostsPage } = proxyActivities<Activities>(costExplorerPage());
  let progress = resumed;
  setHandler(pagesFetchedQuery, () => progress?.pages ?? 0);
  // Inherited from its lease run: live or listed.
  const runPriority = workflowInfo().priority?.priorityKey;
  for (let page = 0; page < PAGES_PER_RUN; page++) {
    const calls = progress?.calls ?? 0;
    const step = await collectCostsPage.executeWithOptions(
      {
        summary: `Cost Explorer call ${calls + 1} for ${input.accountId}`,
        priority: { priorityKey: costExplorerPagePriority(runPriority, calls === 0) },
      },
      [input, progress],
    );
    if (step.done) return step.result;
    progress = step.progress;
  }
  return continueAsNew<typeof collectCostsWorkflow>(input, progress);
}

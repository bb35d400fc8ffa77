import { continueAsNew, defineQuery, proxyActivities, setHandler, setWorkflowOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CollectionInput, CollectionProgress, CollectionResult } from '../src/domain/collection';
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
 * activities and runs.
 */
export async function collectCostsWorkflow(
  input: CollectionInput,
  resumed?: CollectionProgress,
): Promise<CollectionResult> {
  const { collectCostsPage } = proxyActivities<Activities>(costExplorerPage());
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

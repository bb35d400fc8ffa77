import { CostExplorerServiceException } from '@aws-sdk/client-cost-explorer';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { classify, type CostExplorerDeps } from './cost-explorer';

/**
 * An external system's error as the workflows' retry policies see it: a refusal that no retry
 * fixes becomes a non-retryable ApplicationFailure of its ErrorType; anything else stays as thrown,
 * for the engine to retry. Only Cost Explorer's own answers are classified (an S3 or STS error
 * named like one is not a Cost Explorer refusal). Also for callers outside the worker (`report`).
 */
export function translateFailure(err: unknown, costExplorer: Pick<CostExplorerDeps, 'roleArn'>): unknown {
  if (err instanceof CostExplorerServiceException) return classify(err, costExplorer.roleArn);
  return err;
}

/**
 * The worker's one activity interceptor: every activity's failure goes through translateFailure
 * at the activity boundary, so a body leaves its client's errors as they are.
 */
export function activityInterceptor(costExplorer: Pick<CostExplorerDeps, 'roleArn'>): ActivityInterceptorsFactory {
  return () => ({
    inbound: {
      async execute(input, next) {
        try {
          return await next(input);
        } catch (err) {
          throw translateFailure(err, costExplorer);
        }
      },
    },
  });
}

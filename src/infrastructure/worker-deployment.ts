import { type Client, isGrpcServiceError } from '@temporalio/client';
import proto from '@temporalio/proto';
import { z } from 'zod';
import { costExplorerQueueOf } from '../domain/task-queues';

// A Worker Deployment's state as the Temporal server reports it (workflowservice
// DescribeWorkerDeployment, DescribeTaskQueue), and the one write a deploy makes:
// SetWorkerDeploymentCurrentVersion. See docs/upgrade.md.

const { TaskQueueType, WorkerDeploymentVersionStatus: Status, WorkerVersioningMode } = proto.temporal.api.enums.v1;
type Timestamp = { seconds?: number | { toString(): string } | null; nanos?: number | null } | null | undefined;

const STATES = {
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE]: 'inactive',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT]: 'current',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING]: 'ramping',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING]: 'draining',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED]: 'drained',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_CREATED]: 'created',
} as const;
/**
 * inactive: polled, never current. current / ramping: gets new runs. draining: open runs are
 * pinned to it. drained: none are (a refresh the server makes every few minutes; it lags).
 */
export const VersionState = z.enum([...Object.values(STATES), 'unspecified']);

/** The task queues, and kinds of task, that every lease-costs worker process polls. */
export const workerPollsOf = (taskQueue: string) => [
  { taskQueue, kind: 'workflow' as const },
  { taskQueue, kind: 'activity' as const },
  { taskQueue: costExplorerQueueOf(taskQueue), kind: 'activity' as const },
];
const pollName = (p: { taskQueue: string; kind: string }) => `${p.taskQueue} (${p.kind})`;

export const DeploymentVersionReport = z.object({
  buildId: z.string(),
  state: VersionState,
  /** Share of new runs it gets while ramping, 0..100. */
  rampPercentage: z.number().optional(),
  /** No open run is pinned to it: its workers may stop. */
  drained: z.boolean(),
  /** Of the task queues a worker polls, those no worker of this build has polled lately (the server keeps pollers for minutes). */
  missingPollers: z.array(z.string()),
  createdAt: z.string().optional(),
  currentSince: z.string().optional(),
  /** When the server last counted its pinned runs (drainage is refreshed periodically). */
  drainageCheckedAt: z.string().optional(),
});
export type DeploymentVersionReport = z.infer<typeof DeploymentVersionReport>;

export const DeploymentReport = z.object({
  deploymentName: z.string(),
  namespace: z.string(),
  /** The build new runs go to; null: unversioned workers. */
  current: z.string().nullable(),
  ramping: z.object({ buildId: z.string().nullable(), percentage: z.number() }).nullable(),
  /** Oldest first. */
  versions: z.array(DeploymentVersionReport),
});
export type DeploymentReport = z.infer<typeof DeploymentReport>;

export const PromoteResult = z.object({
  deploymentName: z.string(),
  buildId: z.string(),
  outcome: z.enum(['promoted', 'already current']),
  /** The build new runs went to before; null: unversioned workers. */
  previous: z.string().nullable(),
});
export type PromoteResult = z.infer<typeof PromoteResult>;

export interface DeploymentTarget {
  namespace: string;
  deploymentName: string;
  taskQueue: string;
}

const isoOf = (ts: Timestamp) => {
  if (!ts?.seconds) return undefined;
  return new Date(Number(ts.seconds.toString()) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
};
const notFound = (err: unknown) => isGrpcServiceError(err) && err.code === 5; /* NOT_FOUND */

/** The server's reason when it refuses a routing change (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION). */
export const refusal = (err: unknown): string | undefined =>
  isGrpcServiceError(err) && [3, 5, 9].includes(err.code) ? err.details : undefined;

/** Build ids of the deployment's workers seen polling each task queue the product polls. */
async function pollersByBuild(client: Client, target: DeploymentTarget): Promise<Map<string, Set<string>>> {
  const byBuild = new Map<string, Set<string>>();
  for (const poll of workerPollsOf(target.taskQueue)) {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: target.namespace,
      taskQueue: { name: poll.taskQueue },
      taskQueueType:
        poll.kind === 'workflow' ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    for (const p of pollers ?? []) {
      const o = p.deploymentOptions;
      if (
        o?.workerVersioningMode !== WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED ||
        o.deploymentName !== target.deploymentName ||
        !o.buildId
      )
        continue;
      if (!byBuild.has(o.buildId)) byBuild.set(o.buildId, new Set());
      byBuild.get(o.buildId)!.add(pollName(poll));
    }
  }
  return byBuild;
}

/** The deployment's versions and routing; undefined when no versioned worker of it has polled the namespace. */
export async function describeDeployment(
  client: Client,
  target: DeploymentTarget,
): Promise<DeploymentReport | undefined> {
  let info;
  try {
    ({ workerDeploymentInfo: info } = await client.workflowService.describeWorkerDeployment({
      namespace: target.namespace,
      deploymentName: target.deploymentName,
    }));
  } catch (err) {
    if (notFound(err)) return undefined;
    throw err;
  }
  const polling = await pollersByBuild(client, target);
  const routing = info?.routingConfig;
  const rampingBuild = routing?.rampingDeploymentVersion?.buildId || null;
  const rampPercentage = routing?.rampingVersionPercentage ?? 0;
  const versions = (info?.versionSummaries ?? [])
    .map((v): DeploymentVersionReport => {
      const buildId = v.deploymentVersion?.buildId ?? '';
      const state = STATES[v.status as keyof typeof STATES] ?? 'unspecified';
      const seen = polling.get(buildId) ?? new Set<string>();
      return {
        buildId,
        state,
        ...(state === 'ramping' ? { rampPercentage } : {}),
        drained: state === 'drained',
        missingPollers: workerPollsOf(target.taskQueue)
          .map(pollName)
          .filter((name) => !seen.has(name)),
        createdAt: isoOf(v.createTime),
        currentSince: isoOf(v.currentSinceTime),
        drainageCheckedAt: isoOf(v.drainageInfo?.lastCheckedTime),
      };
    })
    .sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''));
  return DeploymentReport.parse({
    deploymentName: target.deploymentName,
    namespace: target.namespace,
    current: routing?.currentDeploymentVersion?.buildId || null,
    ramping: rampingBuild || rampPercentage > 0 ? { buildId: rampingBuild, percentage: rampPercentage } : null,
    versions,
  });
}

/**
 * Makes the build the deployment's current version: new runs, and the next task of every
 * auto-upgrade run, go to it. Idempotent on the server. The server refuses (FAILED_PRECONDITION)
 * a version that does not poll a task queue the current one polls.
 */
export async function setCurrentBuild(client: Client, target: DeploymentTarget, buildId: string): Promise<void> {
  await client.workflowService.setWorkerDeploymentCurrentVersion({
    namespace: target.namespace,
    deploymentName: target.deploymentName,
    buildId,
    identity: client.options.identity,
  });
}

import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { dataConverterFor } from './codec';
import type { Config } from './config';
import { temporalConnectionOptions } from './temporal-connection';
import { LIVE_RUN_PRIORITY } from '../domain/priority';
import { LeaseUuid, type LeaseCostsInput, type LeaseTerminatedEvent } from '../domain/schemas';
import { AwsAccountIdKey, LeasePhaseKey, LeaseUuidKey } from '../domain/search-attributes';

export const WORKFLOW_TYPE = 'leaseCostsWorkflow';
/** Throws on anything but a lease uuid, so no caller can address a second, differently cased run. */
export const workflowIdFor = (leaseUuid: string) => `lease-costs-${LeaseUuid.parse(leaseUuid)}`;

export async function connectClient(
  config: Pick<
    Config,
    | 'TEMPORAL_ADDRESS'
    | 'temporalConnection'
    | 'TEMPORAL_NAMESPACE'
    | 'PAYLOAD_ENCRYPTION_KEYS'
    | 'PAYLOAD_REQUIRE_ENCRYPTION'
  >,
): Promise<Client> {
  const connection = await Connection.connect({ ...temporalConnectionOptions(config), connectTimeout: '5 seconds' });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverterFor(config) });
}

export type StartOutcome =
  { status: 'started'; workflowId: string; runId: string } | { status: 'duplicate'; workflowId: string };

/**
 * `priorityKey`: LIVE_RUN_PRIORITY for a lease someone waits for, LISTED_RUN_PRIORITY for catch-up
 * (src/domain/priority.ts); the run's activities and child inherit it.
 */
export const leaseStartOptions = (given: LeaseCostsInput, priorityKey = LIVE_RUN_PRIORITY) => {
  const input = { ...given, leaseUuid: LeaseUuid.parse(given.leaseUuid) };
  return {
    workflowId: workflowIdFor(input.leaseUuid),
    priority: { priorityKey },
    args: [input] as [LeaseCostsInput],
    typedSearchAttributes: [
      { key: LeaseUuidKey, value: input.leaseUuid },
      { key: AwsAccountIdKey, value: input.accountId },
      { key: LeasePhaseKey, value: 'waiting' },
    ],
    memo: { leaseUuid: input.leaseUuid, accountId: input.accountId },
    staticSummary: `Lease ${input.leaseUuid} costs, account ${input.accountId}`,
  };
};

/**
 * One workflow per lease, ever: REJECT_DUPLICATE refuses a second run even after the first has
 * closed (within the namespace's retention), FAIL refuses one while it is open. Re-runs go through
 * the `rerun` signal, never through this door.
 */
export async function startLeaseCosts(
  client: Client,
  taskQueue: string,
  input: LeaseCostsInput,
  priorityKey = LIVE_RUN_PRIORITY,
): Promise<StartOutcome> {
  const options = leaseStartOptions(input, priorityKey);
  try {
    const handle = await client.workflow.start(WORKFLOW_TYPE, {
      ...options,
      taskQueue,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
    });
    return { status: 'started', workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      return { status: 'duplicate', workflowId: options.workflowId };
    throw err;
  }
}

export const inputFromEvent = (
  event: LeaseTerminatedEvent,
  config: Pick<Config, 'BILLING_PADDING_HOURS' | 'RERUN_WINDOW_DAYS'>,
): LeaseCostsInput => ({
  leaseUuid: event.detail.leaseId.uuid,
  userEmail: event.detail.leaseId.userEmail,
  accountId: event.detail.accountId,
  terminatedAt: event.time,
  terminationReason: event.detail.reason,
  paddingHours: config.BILLING_PADDING_HOURS,
  rerunWindowHours: config.RERUN_WINDOW_DAYS * 24,
});

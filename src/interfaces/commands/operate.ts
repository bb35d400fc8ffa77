import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { connectClient, leaseStartOptions, workflowIdFor, WORKFLOW_TYPE } from '../../infrastructure/client';
import type { Config } from '../../infrastructure/config';
import { CliError } from '../cli-error';
import type { LeaseCostsResult } from '../../../workflows/lease-costs';
import type { LeaseCostsInput, LeaseStatus } from '../../domain/schemas';

export const EXIT_UNKNOWN_LEASE = 3;
export const EXIT_UNREACHABLE = 4;

export async function connect(config: Config): Promise<Client> {
  try {
    const client = await connectClient(config);
    await client.connection.workflowService.getSystemInfo({});
    return client;
  } catch (err) {
    throw new CliError(`cannot reach Temporal at ${config.TEMPORAL_ADDRESS}: ${(err as Error).message}`, EXIT_UNREACHABLE);
  }
}

async function describeLease(client: Client, uuid: string) {
  try {
    return await client.workflow.getHandle(workflowIdFor(uuid)).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliError(`no workflow for lease ${uuid}`, EXIT_UNKNOWN_LEASE);
    throw err;
  }
}

/** The latest run's start input, decoded with the client's data converter (and codec, when set). */
async function latestInput(client: Client, uuid: string): Promise<LeaseCostsInput> {
  const history = await client.workflow.getHandle(workflowIdFor(uuid)).fetchHistory();
  const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  const [input] = await decodeArrayFromPayloads(client.options.loadedDataConverter, payloads);
  return input as LeaseCostsInput;
}

/** Pages fetched so far by a running collection: its child workflow's query, or (older runs) its last heartbeat. */
async function livePages(client: Client, description: Awaited<ReturnType<typeof describeLease>>): Promise<number | undefined> {
  const child = description.raw.pendingChildren?.find((c) => c.workflowTypeName === 'collectCostsWorkflow');
  if (child?.workflowId) return client.workflow.getHandle(child.workflowId).query<number>('pagesFetched');
  const pending = description.raw.pendingActivities?.find((a) => a.activityType?.name === 'collectCosts');
  const payloads = pending?.heartbeatDetails?.payloads;
  if (!payloads?.length) return undefined;
  const [progress] = await decodeArrayFromPayloads(client.options.loadedDataConverter, payloads);
  return (progress as { pages?: number } | undefined)?.pages;
}

export async function leaseStatus(client: Client, uuid: string): Promise<{ execution: string; status?: LeaseStatus }> {
  const description = await describeLease(client, uuid);
  const handle = client.workflow.getHandle(workflowIdFor(uuid));
  try {
    // Closed runs answer too, as long as a worker can replay them.
    const status = await Promise.race([
      handle.query<LeaseStatus>('status'),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('query timed out')), 10_000)),
    ]);
    const pages = status.phase === 'collecting' ? await livePages(client, description) : undefined;
    if (pages !== undefined) status.pagesFetched = Math.max(status.pagesFetched, pages);
    return { execution: description.status.name, status };
  } catch {
    return { execution: description.status.name };
  }
}

function print(json: boolean | undefined, value: unknown, text: string) {
  console.log(json ? JSON.stringify(value, null, 2) : text);
}

export async function statusCommand(config: Config, uuid: string, opts: { json?: boolean }) {
  const client = await connect(config);
  const { execution, status } = await leaseStatus(client, uuid);
  const last = status?.reports.at(-1);
  const lines = [
    `lease        ${uuid}`,
    `workflow     ${workflowIdFor(uuid)} (${execution})`,
    ...(status ? [
      `phase        ${status.phase}`,
      `settle until ${status.settleUntil} (padding ${status.paddingHours}h)`,
      `window       ${status.billingWindow ? `${status.billingWindow.start} to ${status.billingWindow.end} (exclusive)` : '-'}`,
      `pages        ${status.pagesFetched}`,
      `report       ${last ? `v${last.version} s3://…/${last.key} total ${last.total} USD, sha256 ${last.checksumSha256}, URL expires ${last.urlExpiresAt}` : '-'}`,
      ...(status.lastError ? [`last error   ${status.lastError.type}: ${status.lastError.message}`] : []),
      ...(status.rerunOpenUntil ? [`re-runs open until ${status.rerunOpenUntil}`] : []),
    ] : ['status       (no worker answered the status query)']),
  ];
  print(opts.json, { leaseUuid: uuid, workflowId: workflowIdFor(uuid), execution, ...status }, lines.join('\n'));
  await client.connection.close();
}

export async function collectNowCommand(config: Config, uuid: string, opts: { json?: boolean }) {
  const client = await connect(config);
  const description = await describeLease(client, uuid);
  if (description.status.name !== 'RUNNING') {
    throw new CliError(`lease ${uuid} has no open workflow (${description.status.name}); use \`lease-costs rerun\``, EXIT_UNKNOWN_LEASE);
  }
  await client.workflow.getHandle(workflowIdFor(uuid)).signal('collectNow');
  print(opts.json, { leaseUuid: uuid, signalled: 'collectNow' }, `collectNow sent to ${workflowIdFor(uuid)}`);
  await client.connection.close();
}

/**
 * Signal-with-start: an open run gets the `rerun` signal; a closed one is followed by a new run
 * that continues the version numbering and collects at once.
 */
export async function rerunCommand(config: Config, uuid: string, opts: { paddingHours?: number; json?: boolean }) {
  const client = await connect(config);
  const description = await describeLease(client, uuid);
  const previous = await latestInput(client, uuid);
  let nextVersion = previous.nextReportVersion ?? 1;
  let previousReports = previous.previousReports;
  if (description.status.name === 'COMPLETED') {
    const result = await client.workflow.getHandle(workflowIdFor(uuid)).result() as LeaseCostsResult;
    nextVersion = result.reportVersion + 1;
    previousReports = result.reports;
  }
  const input: LeaseCostsInput = {
    ...previous,
    previousReports,
    paddingHours: opts.paddingHours ?? previous.paddingHours,
    nextReportVersion: nextVersion,
    collectImmediately: true,
  };
  const handle = await client.workflow.signalWithStart(WORKFLOW_TYPE, {
    ...leaseStartOptions(input),
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    signal: 'rerun',
    signalArgs: [{ paddingHours: opts.paddingHours }],
  });
  const open = description.status.name === 'RUNNING';
  print(opts.json, { leaseUuid: uuid, workflowId: handle.workflowId, runId: handle.signaledRunId, mode: open ? 'signalled' : 'started' },
    open ? `rerun signalled to the open run of ${handle.workflowId}` : `new run ${handle.signaledRunId} started for ${handle.workflowId} (report v${nextVersion})`);
  await client.connection.close();
}

import { type Client, NamespaceNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import { arrayFromPayloads } from '@temporalio/common';
import { connectClient, leaseStartOptions, workflowIdFor, WORKFLOW_TYPE } from '../../infrastructure/client';
import type { Config } from '../../infrastructure/config';
import { CliError, EXIT_BAD_CONFIG, EXIT_UNKNOWN_LEASE, payloadKeyProblem, temporalUnreachable } from '../cli-error';
import type { LeaseCostsResult } from '../../../workflows/lease-costs';
import { NO_GROUP } from '../../domain/chargeback';
import type { LeaseCostsInput, LeaseStatus, ReportRecord } from '../../domain/schemas';
import { describeTerminationReason } from '../../domain/termination-reason';

/** How long `status` waits for a worker to answer the query (a closed run is replayed to answer). */
const QUERY_TIMEOUT_MS = 10_000;
const WAIT_POLL_MS = 1_000;

type ClientConfig = Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'> & Parameters<typeof connectClient>[0];

/** A client whose server and namespace answered; anything else is an expected failure with its exit code. */
export async function connect(config: ClientConfig): Promise<Client> {
  let client: Client;
  try {
    client = await connectClient(config);
    await client.connection.workflowService.getSystemInfo({});
  } catch (err) {
    throw temporalUnreachable(config.TEMPORAL_ADDRESS, err);
  }
  try {
    await client.connection.workflowService.describeNamespace({ namespace: config.TEMPORAL_NAMESPACE });
  } catch (err) {
    await client.connection.close();
    if (err instanceof NamespaceNotFoundError || (err as { code?: number }).code === 5) {
      throw new CliError(`namespace "${config.TEMPORAL_NAMESPACE}" does not exist on ${config.TEMPORAL_ADDRESS}: check TEMPORAL_NAMESPACE`, EXIT_BAD_CONFIG);
    }
    throw err;
  }
  return client;
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
  let payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  // Codecs decode in the reverse of the order they encode in, as the SDK's own client does.
  const { payloadCodecs, payloadConverter } = client.options.loadedDataConverter;
  for (const codec of [...payloadCodecs].reverse()) payloads = await codec.decode(payloads);
  const [input] = arrayFromPayloads(payloadConverter, payloads);
  return input as LeaseCostsInput;
}

/** Pages fetched so far by a running collection: its child workflow's query. */
async function livePages(client: Client, description: Awaited<ReturnType<typeof describeLease>>): Promise<number | undefined> {
  const child = description.raw.pendingChildren?.find((c) => c.workflowTypeName === 'collectCostsWorkflow');
  return child?.workflowId ? client.workflow.getHandle(child.workflowId).query<number>('pagesFetched') : undefined;
}

export async function leaseStatus(client: Client, uuid: string): Promise<{ execution: string; status?: LeaseStatus }> {
  const description = await describeLease(client, uuid);
  const handle = client.workflow.getHandle(workflowIdFor(uuid));
  let timer: NodeJS.Timeout | undefined;
  try {
    // Closed runs answer too, as long as a worker can replay them.
    const status = await Promise.race([
      handle.query<LeaseStatus>('status'),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('query timed out')), QUERY_TIMEOUT_MS); }),
    ]);
    const pages = status.phase === 'collecting' ? await livePages(client, description) : undefined;
    if (pages !== undefined) status.pagesFetched = Math.max(status.pagesFetched, pages);
    return { execution: description.status.name, status };
  } catch (err) {
    const keyProblem = payloadKeyProblem(err);
    if (keyProblem) throw keyProblem;
    return { execution: description.status.name };
  } finally {
    // A pending timer would keep the process alive for the rest of the timeout after the answer.
    clearTimeout(timer);
  }
}

function print(json: boolean | undefined, value: unknown, text: string) {
  console.log(json ? JSON.stringify(value, null, 2) : text);
}

/** `s3://bucket/key`: the run records its bucket; older records fall back to this process's S3_BUCKET_NAME. */
export function reportLocation(report: Pick<ReportRecord, 'key' | 'bucket'>, configuredBucket: string | undefined): string {
  const bucket = report.bucket ?? configuredBucket;
  return bucket ? `s3://${bucket}/${report.key}` : `${report.key} (bucket unknown: set S3_BUCKET_NAME)`;
}

function statusText(config: Pick<Config, 'S3_BUCKET_NAME'>, uuid: string, execution: string, status: LeaseStatus | undefined): string {
  const last = status?.reports.at(-1);
  return [
    `lease        ${uuid}`,
    `workflow     ${workflowIdFor(uuid)} (${execution})`,
    ...(status ? [
      `phase        ${status.phase}`,
      `ended        ${status.terminationReason ? describeTerminationReason(status.terminationReason) : '- (not started from a LeaseTerminated event)'}`,
      `settle until ${status.settleUntil} (padding ${status.paddingHours}h)`,
      `window       ${status.billingWindow ? `${status.billingWindow.start} to ${status.billingWindow.end} (exclusive)` : '-'}`,
      `pages        ${status.pagesFetched}`,
      ...(status.attribution ? [
        `group        ${status.attribution.costReportGroup ?? NO_GROUP}${status.attribution.originalLeaseTemplateName ? `, template ${status.attribution.originalLeaseTemplateName}` : ''}${status.attribution.terminationReason ? `, ended: ${status.attribution.terminationReason}` : ''}`,
        ...(status.attribution.sharedDays ?? []).map((d) =>
          `shared days  ${d.days.join(', ')} with lease ${d.leaseUuid}; the ledger counts ${d.countedHere.length ? d.countedHere.join(', ') : 'none of them'} here`),
      ] : []),
      ...(last ? [
        `report       v${last.version} ${reportLocation(last, config.S3_BUCKET_NAME)}`,
        ...(last.chartKey ? [`chart        v${last.version} ${reportLocation({ ...last, key: last.chartKey }, config.S3_BUCKET_NAME)}`] : []),
        ...(last.focusKey ? [`FOCUS        v${last.version} ${reportLocation({ ...last, key: last.focusKey }, config.S3_BUCKET_NAME)}`] : []),
        `total        ${last.total} USD, ${last.rowCount} rows, resource level: ${last.resourceLevel}`,
        `sha256       ${last.checksumSha256}`,
        `URL expires  ${last.urlExpiresAt}`,
      ] : ['report       -']),
      ...(status.lastError ? [`last error   ${status.lastError.type}: ${status.lastError.message}`] : []),
      ...(status.rerunOpenUntil ? [`re-runs open until ${status.rerunOpenUntil}`] : []),
    ] : ['status       (no worker answered the status query)']),
  ].join('\n');
}

const statusJson = (config: Pick<Config, 'S3_BUCKET_NAME'>, uuid: string, execution: string, status: LeaseStatus | undefined) => ({
  leaseUuid: uuid, workflowId: workflowIdFor(uuid), execution, ...status,
  ...(status ? {
    reports: status.reports.map((r) => ({
      ...r, location: reportLocation(r, config.S3_BUCKET_NAME),
      ...(r.chartKey ? { chartLocation: reportLocation({ ...r, key: r.chartKey }, config.S3_BUCKET_NAME) } : {}),
      ...(r.focusKey ? { focusLocation: reportLocation({ ...r, key: r.focusKey }, config.S3_BUCKET_NAME) } : {}),
    })),
  } : {}),
});

export async function statusCommand(config: Config, uuid: string, opts: { json?: boolean }) {
  const client = await connect(config);
  try {
    const { execution, status } = await leaseStatus(client, uuid);
    print(opts.json, statusJson(config, uuid, execution, status), statusText(config, uuid, execution, status));
  } finally {
    await client.connection.close();
  }
}

export async function collectNowCommand(config: Config, uuid: string, opts: { json?: boolean }) {
  const client = await connect(config);
  try {
    const { execution, status } = await leaseStatus(client, uuid);
    // Only a run still in its settle delay has anything to skip. With no worker to answer the
    // query, the phase is unknown: the signal is harmless, so send it.
    if (execution !== 'RUNNING' || (status && status.phase !== 'waiting')) {
      const state = status ? `${status.phase}${status.reports.length ? `, report v${status.reports.at(-1)!.version}` : ''}` : execution;
      const hint = status?.phase === 'collecting' || status?.phase === 'reporting' ? 'it is already collecting' : 'use `lease-costs rerun` for a new report version';
      print(opts.json, { leaseUuid: uuid, signalled: null, execution, phase: status?.phase }, `nothing to do: lease ${uuid} is ${state} (${execution}); ${hint}`);
      return;
    }
    await client.workflow.getHandle(workflowIdFor(uuid)).signal('collectNow');
    print(opts.json, { leaseUuid: uuid, signalled: 'collectNow' }, `collectNow sent to ${workflowIdFor(uuid)}`);
  } finally {
    await client.connection.close();
  }
}

/**
 * Signal-with-start: an open run gets the `rerun` signal; a closed one is followed by a new run
 * that continues the version numbering and collects at once. With `wait`, follows that version to
 * published (or failed) and prints it.
 */
export async function rerunCommand(config: Config, uuid: string, opts: { paddingHours?: number; terminatedAt?: string; json?: boolean; wait?: boolean }) {
  const client = await connect(config);
  try {
    const description = await describeLease(client, uuid);
    const previous = await latestInput(client, uuid);
    const open = description.status.name === 'RUNNING';
    let nextVersion = previous.nextReportVersion ?? 1;
    let previousReports = previous.previousReports;
    // The lease as the last run looked it up: the ISB deletes ended leases after its leases.ttl.
    let knownLease = previous.knownLease;
    if (description.status.name === 'COMPLETED') {
      const result = await client.workflow.getHandle(workflowIdFor(uuid)).result() as LeaseCostsResult;
      nextVersion = result.reportVersion + 1;
      previousReports = result.reports;
      // The result stays small (no lease in it): the status query, a replay, has the lease it looked up.
      const { status } = await leaseStatus(client, uuid);
      knownLease = status?.lease ?? knownLease;
    } else if (open && opts.wait) {
      // A run still waiting takes the re-run as "collect now"; past that, it makes the next version.
      const { status } = await leaseStatus(client, uuid);
      if (!status) throw new CliError(`no worker answered the status query of ${workflowIdFor(uuid)}; cannot follow the new version`);
      nextVersion = status.phase === 'waiting' ? status.currentVersion : status.currentVersion + 1;
    } else if (!open) {
      // Failed, terminated or timed out: its status (a replay) says whether its version was published
      // already, in which case reusing the number would overwrite that report.
      const { status } = await leaseStatus(client, uuid);
      if (status) {
        previousReports = status.reports;
        knownLease = status.lease ?? knownLease;
        if (status.reports.some((r) => r.version === status.currentVersion)) nextVersion = status.currentVersion + 1;
      }
    }
    const input: LeaseCostsInput = {
      ...previous,
      previousReports,
      ...(knownLease ? { knownLease } : {}),
      paddingHours: opts.paddingHours ?? previous.paddingHours,
      terminatedAt: opts.terminatedAt ?? previous.terminatedAt,
      terminatedAtFromOperator: opts.terminatedAt !== undefined || previous.terminatedAtFromOperator,
      nextReportVersion: nextVersion,
      collectImmediately: true,
    };
    const handle = await client.workflow.signalWithStart(WORKFLOW_TYPE, {
      ...leaseStartOptions(input),
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      signal: 'rerun',
      signalArgs: [{ paddingHours: opts.paddingHours, terminatedAt: opts.terminatedAt }],
    });
    const started = { leaseUuid: uuid, workflowId: handle.workflowId, runId: handle.signaledRunId, mode: open ? 'signalled' : 'started' };
    const startedText = open ? `rerun signalled to the open run of ${handle.workflowId}` : `new run ${handle.signaledRunId} started for ${handle.workflowId} (report v${nextVersion})`;
    if (!opts.wait) {
      print(opts.json, started, startedText);
      return;
    }
    if (!opts.json) console.error(`${startedText}; waiting for report v${nextVersion}…`);
    const { execution, status } = await untilVersionDone(client, uuid, nextVersion, opts.json);
    if (status.phase === 'failed') {
      throw new CliError(`report v${nextVersion} failed: ${status.lastError ? `${status.lastError.type}: ${status.lastError.message}` : 'see Temporal UI'}`);
    }
    print(opts.json, { ...started, version: nextVersion, ...statusJson(config, uuid, execution, status) }, statusText(config, uuid, execution, status));
  } finally {
    await client.connection.close();
  }
}

/** Polls the status query until `version` is published or the run failed, reporting phase changes on stderr. */
async function untilVersionDone(client: Client, uuid: string, version: number, quiet: boolean | undefined) {
  let lastPhase: string | undefined;
  for (;;) {
    const { execution, status } = await leaseStatus(client, uuid);
    if (status) {
      if (status.reports.some((r) => r.version === version) && status.currentVersion >= version) return { execution, status };
      if (status.phase === 'failed' && status.currentVersion >= version) return { execution, status };
      const current = status.currentVersion >= version ? status.phase : 'queued';
      if (!quiet && current !== lastPhase) console.error(`v${version}: ${current}`);
      lastPhase = current;
    }
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
}

import { type Client, NamespaceNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import { connectClient, workflowIdFor } from '../infrastructure/client';
import type { Config } from '../infrastructure/config';
import { CliError, EXIT_BAD_CONFIG, EXIT_UNKNOWN_LEASE, payloadKeyProblem, temporalUnreachable } from './cli-error';
import { NO_GROUP } from '../domain/chargeback';
import { DEFAULT_COST_SCOPE, describeCostScope, isbComparison } from '../domain/cost-scope';
import type { LeaseStatus, ReportRecord } from '../domain/schemas';
import { describeTerminationReason } from '../domain/termination-reason';

// What the commands about one lease's workflow share (status, rerun, collect-now): the checked
// connection, the status query and how a status prints.

/** How long `status` waits for a worker to answer the query (a closed run is replayed to answer). */
const QUERY_TIMEOUT_MS = 10_000;

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
      throw new CliError(
        `namespace "${config.TEMPORAL_NAMESPACE}" does not exist on ${config.TEMPORAL_ADDRESS}: check TEMPORAL_NAMESPACE`,
        EXIT_BAD_CONFIG,
      );
    }
    throw err;
  }
  return client;
}

export async function describeLease(client: Client, uuid: string) {
  try {
    return await client.workflow.getHandle(workflowIdFor(uuid)).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliError(`no workflow for lease ${uuid}`, EXIT_UNKNOWN_LEASE);
    throw err;
  }
}

/** Pages fetched so far by a running collection: its child workflow's query. */
async function livePages(
  client: Client,
  description: Awaited<ReturnType<typeof describeLease>>,
): Promise<number | undefined> {
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
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('query timed out')), QUERY_TIMEOUT_MS);
      }),
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

export function print(json: boolean | undefined, value: unknown, text: string) {
  console.log(json ? JSON.stringify(value, null, 2) : text);
}

/** `s3://bucket/key`: the run records its bucket; older records fall back to this process's S3_BUCKET_NAME. */
export function reportLocation(
  report: Pick<ReportRecord, 'key' | 'bucket'>,
  configuredBucket: string | undefined,
): string {
  const bucket = report.bucket ?? configuredBucket;
  return bucket ? `s3://${bucket}/${report.key}` : `${report.key} (bucket unknown: set S3_BUCKET_NAME)`;
}

export function statusText(
  config: Pick<Config, 'S3_BUCKET_NAME'>,
  uuid: string,
  execution: string,
  status: LeaseStatus | undefined,
): string {
  const last = status?.reports.at(-1);
  return [
    `lease        ${uuid}`,
    `workflow     ${workflowIdFor(uuid)} (${execution})`,
    ...(status
      ? [
          `phase        ${status.phase}`,
          `ended        ${status.terminationReason ? describeTerminationReason(status.terminationReason) : '- (not started from a LeaseTerminated event)'}`,
          `settle until ${status.settleUntil} (padding ${status.paddingHours}h)`,
          `window       ${status.billingWindow ? `${status.billingWindow.start} to ${status.billingWindow.end} (exclusive)` : '-'}`,
          `pages        ${status.pagesFetched}`,
          ...(status.attribution
            ? [
                `group        ${status.attribution.costReportGroup ?? NO_GROUP}${status.attribution.originalLeaseTemplateName ? `, template ${status.attribution.originalLeaseTemplateName}` : ''}${status.attribution.terminationReason ? `, ended: ${status.attribution.terminationReason}` : ''}`,
                ...(status.attribution.sharedDays ?? []).map(
                  (d) =>
                    `shared days  ${d.days.join(', ')} with lease ${d.leaseUuid}; the ledger counts ${d.countedHere.length ? d.countedHere.join(', ') : 'none of them'} here`,
                ),
              ]
            : []),
          ...(last
            ? [
                `report       v${last.version} ${reportLocation(last, config.S3_BUCKET_NAME)}`,
                ...(last.chartKey
                  ? [
                      `chart        v${last.version} ${reportLocation({ ...last, key: last.chartKey }, config.S3_BUCKET_NAME)}`,
                    ]
                  : []),
                ...(last.focusKey
                  ? [
                      `FOCUS        v${last.version} ${reportLocation({ ...last, key: last.focusKey }, config.S3_BUCKET_NAME)}`,
                    ]
                  : []),
                `total        ${last.total} USD, ${last.rowCount} rows, resource level: ${last.resourceLevel}`,
                `counted      ${describeCostScope(last.costScope ?? DEFAULT_COST_SCOPE)}`,
                ...[isbComparison(last.total, status.attribution?.totalCostAccrued, last.costScope)].flatMap((c) =>
                  c
                    ? [
                        `ISB total    ${c.totalCostAccrued} USD (totalCostAccrued); ours − ISB = ${c.difference} USD. ${c.why}`,
                      ]
                    : [],
                ),
                `sha256       ${last.checksumSha256}`,
                `URL expires  ${last.urlExpiresAt}`,
              ]
            : ['report       -']),
          ...(status.lastError ? [`last error   ${status.lastError.type}: ${status.lastError.message}`] : []),
          ...(status.rerunOpenUntil ? [`re-runs open until ${status.rerunOpenUntil}`] : []),
        ]
      : ['status       (no worker answered the status query)']),
  ].join('\n');
}

export const statusJson = (
  config: Pick<Config, 'S3_BUCKET_NAME'>,
  uuid: string,
  execution: string,
  status: LeaseStatus | undefined,
) => ({
  leaseUuid: uuid,
  workflowId: workflowIdFor(uuid),
  execution,
  ...status,
  isbComparison:
    isbComparison(
      status?.reports.at(-1)?.total,
      status?.attribution?.totalCostAccrued,
      status?.reports.at(-1)?.costScope,
    ) ?? null,
  ...(status
    ? {
        reports: status.reports.map((r) => ({
          ...r,
          location: reportLocation(r, config.S3_BUCKET_NAME),
          ...(r.chartKey ? { chartLocation: reportLocation({ ...r, key: r.chartKey }, config.S3_BUCKET_NAME) } : {}),
          ...(r.focusKey ? { focusLocation: reportLocation({ ...r, key: r.focusKey }, config.S3_BUCKET_NAME) } : {}),
        })),
      }
    : {}),
});

import { Context } from '@temporalio/activity';
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { addDays } from '../src/domain/billing-window';
import { parseAmount, toReportNumber } from '../src/domain/money';
import type { DateRange } from '../src/domain/schemas';
import type { ReportSummary } from './s3';

export interface EventBridgeDeps {
  eventBridge: EventBridgeClient;
  busName: string;
  /** Presigning happens here so the URL (a bearer credential) never enters workflow history. */
  presign: (key: string) => Promise<{ url: string; expiresAt: string }>;
  /** Temporal UI base URL for the link in LeaseCostsFailed; no link without it. */
  temporalUiUrl?: string;
  /** Attempts the activity that failed the run made (from its history); undefined when no activity failed. */
  attemptsOf?: (workflowId: string, runId: string) => Promise<number | undefined>;
}

export const EVENT_SOURCE = 'isb-costs';
export const EVENT_DETAIL_TYPE = 'LeaseCostsGenerated';
export const FAILURE_DETAIL_TYPE = 'LeaseCostsFailed';
/** Both events' detail schema version: bumped only if a field's meaning changes (fields are only ever added). */
export const EVENT_SCHEMA_VERSION = 1;
const MAX_ERROR_MESSAGE = 2_000;

export interface PublishFailureInput {
  leaseUuid: string;
  userEmail: string;
  accountId: string;
  errorType: string;
  errorMessage: string;
}

export interface PublishInput {
  leaseUuid: string;
  userEmail: string;
  accountId: string;
  version: number;
  billingWindow: DateRange;
  report: ReportSummary;
  /** The HTML report beside the CSV. */
  chartKey: string;
  resourceLevel: string;
}

/** One event from source isb-costs. PutEvents can fail per entry with a 200: only an entry with an EventId was put. */
export async function putEvent(deps: Pick<EventBridgeDeps, 'eventBridge' | 'busName'>, detailType: string, detail: object, what: string): Promise<string> {
  const res = await deps.eventBridge.send(new PutEventsCommand({
    Entries: [{ EventBusName: deps.busName, Source: EVENT_SOURCE, DetailType: detailType, Detail: JSON.stringify(detail) }],
  }));
  const entry = res.Entries?.[0];
  if ((res.FailedEntryCount ?? 0) > 0 || !entry?.EventId) {
    throw new Error(`PutEvents rejected ${detailType} for ${what}: ${entry?.ErrorCode ?? 'no entry'} ${entry?.ErrorMessage ?? ''}`);
  }
  return entry.EventId;
}

export function createEventBridgeActivities(deps: EventBridgeDeps) {
  const put = (detailType: string, detail: object, what: string) => putEvent(deps, detailType, detail, what);

  return {
    /**
     * LeaseCostsFailed, once per failed run: the workflow calls this once; a retried PutEvents may
     * deliver twice, so consumers dedupe on idempotencyKey (workflow id and run id).
     */
    async publishFailure(input: PublishFailureInput): Promise<{ eventId: string }> {
      const { workflowExecution, workflowNamespace } = Context.current().info;
      if (!workflowExecution || !workflowNamespace) throw new Error('publishFailure runs only inside a lease workflow');
      const { workflowId, runId } = workflowExecution;
      const attempts = (await deps.attemptsOf?.(workflowId, runId).catch(() => undefined)) ?? 1;
      const ui = deps.temporalUiUrl?.replace(/\/+$/, '');
      const detail = {
        schemaVersion: EVENT_SCHEMA_VERSION,
        leaseId: input.leaseUuid,
        userEmail: input.userEmail,
        accountId: input.accountId,
        errorType: input.errorType,
        errorMessage: input.errorMessage.slice(0, MAX_ERROR_MESSAGE),
        attempts,
        workflowId,
        runId,
        temporalUiUrl: ui ? `${ui}/namespaces/${encodeURIComponent(workflowNamespace)}/workflows/${encodeURIComponent(workflowId)}/${runId}/history` : null,
        idempotencyKey: `${workflowId}:${runId}:failed`,
      };
      return { eventId: await put(FAILURE_DETAIL_TYPE, detail, input.leaseUuid) };
    },


    async publishReport(input: PublishInput): Promise<{ eventId: string; urlExpiresAt: string }> {
      const { url, expiresAt } = await deps.presign(input.report.key);
      // Signed after the CSV's, so it lives at least until the urlExpiresAt announced for both.
      const chart = await deps.presign(input.chartKey);
      const detail = {
        leaseId: input.leaseUuid,
        userEmail: input.userEmail,
        accountId: input.accountId,
        // The legacy numeric field, rounded to cents; totalCostExact carries every digit.
        totalCost: toReportNumber(parseAmount(input.report.total)),
        currency: 'USD',
        startDate: input.billingWindow.start,
        // Consumers read endDate as the last day billed; Cost Explorer's exclusive end is additive below.
        endDate: addDays(input.billingWindow.end, -1),
        csvUrl: url,
        urlExpiresAt: expiresAt,
        // Additive fields: never renamed or removed.
        reportVersion: input.version,
        s3Key: input.report.key,
        checksumSha256: input.report.checksumSha256,
        totalCostExact: input.report.total,
        rowCount: input.report.rowCount,
        resourceLevel: input.resourceLevel,
        billingPeriodEndExclusive: input.billingWindow.end,
        idempotencyKey: `${input.leaseUuid}:v${input.version}`,
        schemaVersion: EVENT_SCHEMA_VERSION,
        // Only with REPORT_FOCUS: the report in FOCUS columns, beside the CSV.
        ...(input.report.focusKey ? { focusKey: input.report.focusKey } : {}),
        // The HTML report (chart and top resources), a bearer link like csvUrl.
        reportUrl: chart.url,
      };
      const eventId = await put(EVENT_DETAIL_TYPE, detail, `${input.leaseUuid} v${input.version}`);
      return { eventId, urlExpiresAt: expiresAt };
    },
  };
}

import { Context } from '@temporalio/activity';
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  EVENT_DETAIL_TYPE,
  EVENT_SCHEMA_VERSION,
  EVENT_SOURCE,
  FAILURE_DETAIL_TYPE,
  REPORT_PUBLISHED_DETAIL_TYPE,
  type LeaseCostsReportPublishedDetail,
} from '../src/domain/events';
import { DEFAULT_COST_SCOPE } from '../src/domain/cost-scope';
import { parseAmount, toReportNumber } from '../src/domain/money';
import type { DateRange, LeaseAttribution, TerminationReason, WrittenReport } from '../src/domain/schemas';

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
  report: WrittenReport;
  /** The HTML report beside the CSV. */
  chartKey: string;
  resourceLevel: LeaseCostsReportPublishedDetail['resourceLevel'];
  /** From the LeaseTerminated event, when the run started from one. */
  terminationReason?: TerminationReason;
  /** What the ISB record says of the lease beyond who and when, and the days it shares. */
  attribution?: LeaseAttribution;
}

/**
 * Events from source isb-costs, in one PutEvents. It can fail per entry with a 200: only an entry
 * with an EventId was put, so every entry is checked.
 */
export async function putEvents(
  deps: Pick<EventBridgeDeps, 'eventBridge' | 'busName'>,
  entries: { detailType: string; detail: object }[],
  what: string,
): Promise<string[]> {
  const res = await deps.eventBridge.send(
    new PutEventsCommand({
      Entries: entries.map((e) => ({
        EventBusName: deps.busName,
        Source: EVENT_SOURCE,
        DetailType: e.detailType,
        Detail: JSON.stringify(e.detail),
      })),
    }),
  );
  const failed = entries.flatMap((e, i) => {
    const answer = res.Entries?.[i];
    return answer?.EventId
      ? []
      : [`${e.detailType}: ${answer?.ErrorCode ?? 'no entry'} ${answer?.ErrorMessage ?? ''}`.trim()];
  });
  if (failed.length > 0 || (res.FailedEntryCount ?? 0) > 0) {
    throw new Error(`PutEvents rejected ${failed.join('; ') || `${res.FailedEntryCount} entries`} for ${what}`);
  }
  return entries.map((_e, i) => res.Entries![i]!.EventId!);
}

export function createEventBridgeActivities(deps: EventBridgeDeps) {
  const put = (entries: { detailType: string; detail: object }[], what: string) => putEvents(deps, entries, what);

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
        temporalUiUrl: ui
          ? `${ui}/namespaces/${encodeURIComponent(workflowNamespace)}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`
          : null,
        idempotencyKey: `${workflowId}:${runId}:failed`,
      };
      const [eventId] = await put([{ detailType: FAILURE_DETAIL_TYPE, detail }], input.leaseUuid);
      return { eventId: eventId! };
    },

    /**
     * LeaseCostsGenerated and LeaseCostsReportPublished, in one PutEvents, once the CSV is verified
     * in S3. A retry sends both again (at least once per version): LeaseCostsReportPublished's
     * idempotencyKey names the version; LeaseCostsGenerated has no room for one.
     */
    async publishReport(input: PublishInput): Promise<{ eventId: string; urlExpiresAt: string }> {
      const { url, expiresAt } = await deps.presign(input.report.key);
      // Signed after the CSV's, so it lives at least until the urlExpiresAt announced for both.
      const chart = await deps.presign(input.chartKey);
      // The drop-in: exactly the nine fields the NDX notification service accepts
      // (co-cddo/ndx infra/lib/lambda/notification/validation.ts, LeaseCostsGeneratedDetailSchema,
      // strict). startDate and endDate are the billing window as the Lambda it replaces sent them
      // (co-cddo/innovation-sandbox-on-aws-costs src/lib/date-utils.ts): endDate is its exclusive end.
      const generated = {
        leaseId: input.leaseUuid,
        userEmail: input.userEmail,
        accountId: input.accountId,
        totalCost: toReportNumber(parseAmount(input.report.total)),
        currency: 'USD',
        startDate: input.billingWindow.start,
        endDate: input.billingWindow.end,
        csvUrl: url,
        urlExpiresAt: expiresAt,
      };
      const published: LeaseCostsReportPublishedDetail = {
        schemaVersion: EVENT_SCHEMA_VERSION,
        leaseId: input.leaseUuid,
        userEmail: input.userEmail,
        accountId: input.accountId,
        totalCostExact: input.report.total,
        currency: 'USD',
        costScope: input.report.costScope ?? DEFAULT_COST_SCOPE,
        reportVersion: input.version,
        s3Bucket: input.report.bucket,
        s3Key: input.report.key,
        checksumSha256: input.report.checksumSha256,
        rowCount: input.report.rowCount,
        resourceLevel: input.resourceLevel,
        billingPeriodStart: input.billingWindow.start,
        billingPeriodEndExclusive: input.billingWindow.end,
        reportUrl: chart.url,
        urlExpiresAt: expiresAt,
        focusKey: input.report.focusKey ?? null,
        terminationReason: input.terminationReason ?? null,
        costReportGroup: input.attribution?.costReportGroup ?? null,
        originalLeaseTemplateName: input.attribution?.originalLeaseTemplateName ?? null,
        maxSpend: input.attribution?.maxSpend ?? null,
        totalCostAccrued: input.attribution?.totalCostAccrued ?? null,
        sharedDays: input.attribution?.sharedDays ?? [],
        idempotencyKey: `${input.leaseUuid}:v${input.version}`,
      };
      const [eventId] = await put(
        [
          { detailType: EVENT_DETAIL_TYPE, detail: generated },
          { detailType: REPORT_PUBLISHED_DETAIL_TYPE, detail: published },
        ],
        `${input.leaseUuid} v${input.version}`,
      );
      return { eventId: eventId!, urlExpiresAt: expiresAt };
    },
  };
}

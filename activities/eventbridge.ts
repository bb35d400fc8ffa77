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
}

export const EVENT_SOURCE = 'isb-costs';
export const EVENT_DETAIL_TYPE = 'LeaseCostsGenerated';

export interface PublishInput {
  leaseUuid: string;
  userEmail: string;
  accountId: string;
  version: number;
  billingWindow: DateRange;
  report: ReportSummary;
  resourceLevel: string;
}

export function createEventBridgeActivities(deps: EventBridgeDeps) {
  return {
    async publishReport(input: PublishInput): Promise<{ eventId: string; urlExpiresAt: string }> {
      const { url, expiresAt } = await deps.presign(input.report.key);
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
      };
      const res = await deps.eventBridge.send(new PutEventsCommand({
        Entries: [{ EventBusName: deps.busName, Source: EVENT_SOURCE, DetailType: EVENT_DETAIL_TYPE, Detail: JSON.stringify(detail) }],
      }));
      const entry = res.Entries?.[0];
      if ((res.FailedEntryCount ?? 0) > 0 || !entry?.EventId) {
        throw new Error(`PutEvents rejected LeaseCostsGenerated for ${input.leaseUuid} v${input.version}: ${entry?.ErrorCode ?? 'no entry'} ${entry?.ErrorMessage ?? ''}`);
      }
      return { eventId: entry.EventId, urlExpiresAt: expiresAt };
    },
  };
}

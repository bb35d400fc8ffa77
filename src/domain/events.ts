import { z } from 'zod';
import { ResourceLevel } from './collection';
import { CostScope } from './cost-scope';
import {
  AccountId,
  DecimalString,
  IsoDate,
  IsoDateTime,
  LeaseUuid,
  SharedDays,
  TerminationReasonSchema,
} from './schemas';

// The events lease-costs emits on EventBridge (docs/events.md).

export const EVENT_SOURCE = 'isb-costs';
/** The drop-in event: the nine fields its consumers validate strictly, nothing else. */
export const EVENT_DETAIL_TYPE = 'LeaseCostsGenerated';
/** Everything else about a published report, for consumers that want more. */
export const REPORT_PUBLISHED_DETAIL_TYPE = 'LeaseCostsReportPublished';
export const FAILURE_DETAIL_TYPE = 'LeaseCostsFailed';
/** schemaVersion of LeaseCostsReportPublished and LeaseCostsFailed: bumped only if a field's meaning changes (fields are only ever added). */
export const EVENT_SCHEMA_VERSION = 1;

/** LeaseCostsReportPublished's detail, exactly as emitted: one per published report version. */
export const LeaseCostsReportPublishedDetail = z.strictObject({
  schemaVersion: z.number().int().min(1),
  leaseId: LeaseUuid,
  userEmail: z.email(),
  accountId: AccountId,
  /** The exact total, every digit Cost Explorer gave; LeaseCostsGenerated's totalCost is this rounded to cents. */
  totalCostExact: DecimalString,
  currency: z.literal('USD'),
  /** Which Cost Explorer record types totalCostExact counts: `usage` or `all-except-credits-refunds` (docs/reports.md#which-costs-count). */
  costScope: CostScope,
  reportVersion: z.number().int().min(1),
  s3Bucket: z.string().min(1),
  s3Key: z.string().min(1),
  /** base64 SHA-256 of the CSV, as S3 stores and verified it. */
  checksumSha256: z.string().min(1),
  rowCount: z.number().int().min(0),
  resourceLevel: ResourceLevel,
  billingPeriodStart: IsoDate,
  billingPeriodEndExclusive: IsoDate,
  /** The HTML report (chart, top resources): a bearer link like LeaseCostsGenerated's csvUrl. */
  reportUrl: z.url(),
  /** When reportUrl (and the csvUrl sent beside this event) stop working. */
  urlExpiresAt: IsoDateTime,
  /** The report in FOCUS columns beside the CSV; null unless REPORT_FOCUS is on. */
  focusKey: z.string().min(1).nullable(),
  /** From the ISB's LeaseTerminated event; null for runs started from the ISB's lease list (reconcile, backfill). */
  terminationReason: TerminationReasonSchema.nullable(),
  /** The ISB record's cost report group (ISB 1.1+), template name, budget and its own accrued cost; null when it has none. */
  costReportGroup: z.string().nullable(),
  originalLeaseTemplateName: z.string().nullable(),
  maxSpend: DecimalString.nullable(),
  totalCostAccrued: DecimalString.nullable(),
  /** Days this lease's billing window shares with other leases of the account, and which of them it counts (docs/chargeback.md). */
  sharedDays: z.array(SharedDays),
  /** `<lease>:v<version>`: the same for every delivery of one report version. */
  idempotencyKey: z.string().min(1),
});
export type LeaseCostsReportPublishedDetail = z.infer<typeof LeaseCostsReportPublishedDetail>;

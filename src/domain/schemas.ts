import { z } from 'zod';
import { CostScope } from './cost-scope';
import { MAX_PADDING_HOURS } from './defaults';

// Zod schemas are the single source of the project's types (z.infer below).

const NIL_UUID = '00000000-0000-0000-0000-000000000000';
/**
 * A lease uuid in its one canonical form, lower case: the workflow id, search attributes, S3 keys
 * and events all derive from it, so `ABC…` and `abc…` must be the same lease. The nil uuid is
 * never a real lease.
 */
export const LeaseUuid = z
  .string()
  .toLowerCase()
  .pipe(z.uuid())
  .refine((u) => u !== NIL_UUID, 'must not be the nil uuid');
export const AccountId = z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id');
export const IsoDate = z.iso.date(); // YYYY-MM-DD
export const IsoDateTime = z.iso.datetime({ offset: true });
/** A decimal amount as Cost Explorer sends it: never a JS number. */
export const DecimalString = z.string().regex(/^-?\d+(\.\d+)?$/, 'must be a plain decimal string');

/**
 * Why the ISB ended a lease: its `LeaseTerminatedReasonSchema`, field for field
 * (aws-solutions/innovation-sandbox-on-aws, source/common/events/lease-terminated-event.ts; comments
 * are its FreeTextSchema, at most 1000 characters, source/common/utils/zod.ts).
 */
const IsbFreeText = z.string().max(1000);
export const TerminationReasonSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('Expired'), leaseDurationInHours: z.number().gt(0) }),
  z.object({ type: z.literal('BudgetExceeded'), budget: z.number().optional(), totalSpend: z.number() }),
  z.object({ type: z.literal('ManuallyTerminated'), comment: IsbFreeText }),
  z.object({ type: z.literal('AccountQuarantined'), comment: IsbFreeText }),
  z.object({ type: z.literal('Ejected'), comment: IsbFreeText }),
  z.object({ type: z.literal('ProvisioningFailed'), comment: IsbFreeText }),
]);
export type TerminationReason = z.infer<typeof TerminationReasonSchema>;

/**
 * The ISB emits its events with source `InnovationSandbox-${ISB_NAMESPACE}`
 * (source/common/isb-services/index.ts); older descriptions of it say `isb`. The source is no
 * credential (the webhook's key and the queue's IAM policy are): the check only keeps out events
 * that are plainly not the ISB's, such as our own `isb-costs` ones.
 */
export const ISB_EVENT_SOURCE_PREFIX = 'InnovationSandbox-';
export const LEGACY_ISB_EVENT_SOURCE = 'isb';
export const IsbEventSource = z
  .string()
  .refine(
    (s) =>
      s === LEGACY_ISB_EVENT_SOURCE ||
      (s.startsWith(ISB_EVENT_SOURCE_PREFIX) && s.length > ISB_EVENT_SOURCE_PREFIX.length),
    `must be "${ISB_EVENT_SOURCE_PREFIX}<ISB namespace>" (or "${LEGACY_ISB_EVENT_SOURCE}")`,
  );

export const LEASE_TERMINATED_DETAIL_TYPE = 'LeaseTerminated';
export const LeaseTerminatedEvent = z.object({
  version: z.string().optional(),
  id: z.string().min(1).max(256),
  'detail-type': z.literal(LEASE_TERMINATED_DETAIL_TYPE),
  source: IsbEventSource,
  account: z.string().optional(),
  time: IsoDateTime,
  region: z.string().optional(),
  resources: z.array(z.string()).optional(),
  // The ISB's LeaseTerminatedEventSchema: leaseId, accountId and reason, all required.
  detail: z
    .object({
      leaseId: z.object({
        userEmail: z.email(),
        uuid: LeaseUuid,
      }),
      accountId: AccountId,
      reason: TerminationReasonSchema,
    })
    .loose(),
});
export type LeaseTerminatedEvent = z.infer<typeof LeaseTerminatedEvent>;

export const LeaseCostsInput = z.object({
  leaseUuid: LeaseUuid,
  userEmail: z.email(),
  accountId: AccountId,
  /** The event's `time`: the settle delay counts from here. */
  terminatedAt: IsoDateTime,
  /** Why the ISB ended the lease, from the event; absent for runs started from the lease list (reconcile, backfill). */
  terminationReason: TerminationReasonSchema.optional(),
  /** Set when an operator corrected `terminatedAt` (`rerun --terminated-at`): it then wins over the ISB API's end date. */
  terminatedAtFromOperator: z.boolean().optional(),
  paddingHours: z.number().int().min(0).max(MAX_PADDING_HOURS).optional(),
  /** The version the next report gets; continues across runs. */
  nextReportVersion: z.number().int().min(1).optional(),
  /** Skip the settle delay: set for re-runs, whose data has long settled. */
  collectImmediately: z.boolean().optional(),
  /** How long the run stays open for `rerun` signals after publishing. */
  rerunWindowHours: z
    .number()
    .min(0)
    .max(24 * 366)
    .optional(),
  /** Recent reports carried over continue-as-new, for `status`. */
  previousReports: z
    .array(z.lazy(() => ReportRecord))
    .max(20)
    .optional(),
  /** The lease as an earlier run looked it up: used when the ISB has deleted it since (its `leases.ttl`). */
  knownLease: z.lazy(() => LeaseDetails).optional(),
});
export type LeaseCostsInput = z.infer<typeof LeaseCostsInput>;

/** What the `rerun` signal may correct; the CLI validates it before sending. */
export const RerunRequest = z.object({
  paddingHours: z.number().int().min(0).max(MAX_PADDING_HOURS).optional(),
  terminatedAt: IsoDateTime.optional(),
});
export type RerunRequest = z.infer<typeof RerunRequest>;

/**
 * A lease record as `GET /leases/{id}` answers it (MonitoredLeaseSchema / ExpiredLeaseSchema in the
 * ISB's source/common/data/lease/lease.ts): the account is `awsAccountId`, money is a JSON number.
 */
export const IsbLease = z
  .object({
    uuid: LeaseUuid,
    userEmail: z.email(),
    awsAccountId: AccountId,
    startDate: IsoDateTime,
    endDate: IsoDateTime.optional(),
    status: z.string(),
    costReportGroup: z.string().optional(),
    originalLeaseTemplateName: z.string().optional(),
    maxSpend: z.number().optional(),
    totalCostAccrued: z.number().optional(),
  })
  .loose();
export type IsbLease = z.infer<typeof IsbLease>;

/**
 * What a run knows of its lease, from the ISB API (or, once the ISB has deleted the lease, from the
 * run before). The ISB's numbers travel as exact decimal strings.
 */
export const LeaseDetails = z.object({
  uuid: LeaseUuid,
  userEmail: z.email(),
  accountId: AccountId,
  startDate: IsoDateTime,
  endDate: IsoDateTime.optional(),
  status: z.string(),
  costReportGroup: z.string().optional(),
  originalLeaseTemplateName: z.string().optional(),
  maxSpend: DecimalString.optional(),
  totalCostAccrued: DecimalString.optional(),
});
export type LeaseDetails = z.infer<typeof LeaseDetails>;

/**
 * The ISB's terminal lease statuses (`ExpiredLeaseStatusSchema` in the ISB source): these leases
 * carry an `endDate`, the moment they ended. PendingApproval, ApprovalDenied, Active, Frozen and
 * Provisioning leases have not ended (or never had an account) and are never costed.
 */
export const EndedLeaseStatus = z.enum([
  'Expired',
  'BudgetExceeded',
  'ManuallyTerminated',
  'AccountQuarantined',
  'Ejected',
  'ProvisioningFailed',
]);
export type EndedLeaseStatus = z.infer<typeof EndedLeaseStatus>;

/** An ended lease as listed by `GET /leases`: the fields a run needs, and nothing else (payloads stay small). */
export const EndedLease = z.object({
  uuid: LeaseUuid,
  userEmail: z.email(),
  accountId: AccountId,
  endDate: IsoDateTime,
  status: EndedLeaseStatus,
});
export type EndedLease = z.infer<typeof EndedLease>;

/** `GET /leases` data: a DynamoDB scan page. Items are checked one by one, so one odd lease cannot hide the rest. */
export const IsbLeasePage = z
  .object({
    result: z.array(z.unknown()),
    nextPageIdentifier: z.string().min(1).nullable().optional(),
  })
  .loose();

export const JSendSuccess = <T extends z.ZodType>(data: T) => z.object({ status: z.literal('success'), data });

/** One line of the report: money stays a decimal string end to end. */
export const CostRow = z.object({
  resourceName: z.string(),
  service: z.string(),
  region: z.string(),
  /** UnblendedCost: the report's amount. */
  cost: DecimalString,
  /** AmortizedCost from the same query (FOCUS EffectiveCost); absent where it was not asked for. */
  amortizedCost: DecimalString.optional(),
  /** Start of the Cost Explorer period the row is from: the day, for DAILY rows. The CSV ignores it. */
  date: IsoDate.optional(),
  /** Exclusive end of that period when it is longer than the day `date` (MONTHLY resource rows). */
  periodEnd: IsoDate.optional(),
});
export type CostRow = z.infer<typeof CostRow>;

export const DateRange = z.object({ start: IsoDate, end: IsoDate }); // end exclusive
export type DateRange = z.infer<typeof DateRange>;

/**
 * A lease's published report: the one report shape. writeReport's result, the run's status and its
 * result are views of it, so a field has one name from the activity to the CLI. The names are the
 * ones recorded histories hold.
 */
export const ReportRecord = z.object({
  version: z.number().int().min(1),
  /** Absent in records made before the bucket was recorded. */
  bucket: z.string().optional(),
  key: z.string(),
  /** The HTML report beside the CSV; absent in records made before it existed. */
  chartKey: z.string().optional(),
  /** The report in FOCUS columns, when REPORT_FOCUS was on. */
  focusKey: z.string().optional(),
  total: DecimalString,
  checksumSha256: z.string(),
  rowCount: z.number().int(),
  urlExpiresAt: z.string(),
  resourceLevel: z.string(),
  billingWindow: DateRange,
  publishedAt: z.string(),
  /** Which record types `total` counts; absent in records from before COST_SCOPE: `usage`. */
  costScope: CostScope.optional(),
});
export type ReportRecord = z.infer<typeof ReportRecord>;

/** What writeReport returns: the CSV as stored, with its size and the summary (and FOCUS file) beside it. */
export const WrittenReport = ReportRecord.pick({
  key: true,
  checksumSha256: true,
  rowCount: true,
  total: true,
  focusKey: true,
  costScope: true,
}).extend({
  bucket: z.string(),
  bytes: z.number().int(),
  /** The report's LeaseSummary (JSON), beside the CSV. */
  summaryKey: z.string(),
});
export type WrittenReport = z.infer<typeof WrittenReport>;

/** What a lease run returns: its report, and the most recent ones, so a later run started by `rerun` keeps showing them. */
export const LeaseCostsResult = ReportRecord.pick({
  version: true,
  key: true,
  checksumSha256: true,
  total: true,
  rowCount: true,
  resourceLevel: true,
  billingWindow: true,
}).extend({ reports: z.array(ReportRecord) });
export type LeaseCostsResult = z.infer<typeof LeaseCostsResult>;

/** The names a run's result has where it completed on a release before the names were shared. */
const RESULT_NAMES_BEFORE = { reportVersion: 'version', s3Key: 'key', totalCost: 'total' } as const;

/** A completed run's result, whichever release returned it. */
export const RecordedLeaseCostsResult = z.preprocess((value) => {
  if (typeof value !== 'object' || value === null) return value;
  const named: Record<string, unknown> = { ...value };
  for (const [before, now] of Object.entries(RESULT_NAMES_BEFORE)) {
    if (before in named && !(now in named)) named[now] = named[before];
    delete named[before];
  }
  return named;
}, LeaseCostsResult);

/** The other lease of the same account whose billing window shares days with this one's. */
export const SharedDays = z.object({
  leaseUuid: LeaseUuid,
  /** The days in both windows, sorted. */
  days: z.array(IsoDate),
  /** Of those, the days this lease's ledger rows count (the rest count for the other lease). */
  countedHere: z.array(IsoDate),
});
export type SharedDays = z.infer<typeof SharedDays>;

/**
 * What the ISB record says about a lease beyond who and when (ISB source/common/data/lease/lease.ts:
 * `costReportGroup?`, `originalLeaseTemplateName`, `maxSpend`, `totalCostAccrued`), the
 * termination reason's type from the LeaseTerminated event, and the days shared with other leases.
 * Money stays a decimal string.
 */
export const LeaseAttribution = z.object({
  costReportGroup: z.string().optional(),
  originalLeaseTemplateName: z.string().optional(),
  maxSpend: DecimalString.optional(),
  totalCostAccrued: DecimalString.optional(),
  terminationReason: z.string().optional(),
  sharedDays: z.array(SharedDays).optional(),
});
export type LeaseAttribution = z.infer<typeof LeaseAttribution>;

export const LeasePhase = z.enum(['waiting', 'collecting', 'reporting', 'published', 'failed']);
export type LeasePhase = z.infer<typeof LeasePhase>;

/** What the `status` query returns: everything an operator needs without reading history. */
export interface LeaseStatus {
  leaseUuid: string;
  accountId: string;
  /** From the LeaseTerminated event; absent when the run did not start from one. */
  terminationReason?: TerminationReason;
  phase: LeasePhase;
  settleUntil: string;
  paddingHours: number;
  billingWindow?: DateRange;
  currentVersion: number;
  pagesFetched: number;
  reports: ReportRecord[];
  lastError?: { type: string; message: string; at: string };
  rerunOpenUntil?: string;
  /** The lease as this run looked it up, carried to the next run of the lease. */
  lease?: LeaseDetails;
  /** Group, template, budget, the ISB's accrued cost, termination reason and shared days, once looked up. */
  attribution?: LeaseAttribution;
}

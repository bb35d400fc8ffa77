import { ApplicationFailure } from '@temporalio/activity';
import { addDays } from '../src/domain/billing-window';
import {
  activeLeaseRows,
  GROUP_REPORT_DETAIL_TYPE,
  GroupCostReportGeneratedDetail,
  groupReportKeys,
  groupTotals,
  ISB_GROUP_CSV_HEADER,
  ISB_NO_GROUP,
  LEASE_CSV_HEADER,
  monthRange,
  NO_GROUP,
  type ActiveLease,
  type GroupReportLeaseRow,
  type GroupTotal,
} from '../src/domain/chargeback';
import { partKey } from '../src/domain/collection';
import { neutraliseCell } from '../src/domain/csv';
import { ErrorType } from '../src/domain/errors';
import { addAmounts, formatAmount, normaliseAmount, sumAmounts } from '../src/domain/money';
import { queryMonthLeaseCosts, type LedgerDb } from '../src/infrastructure/ledger-db';
import { putEvents, type EventBridgeDeps } from './eventbridge';
import { putVerifiedObject, type ReportBucket } from './s3-objects';
import type { StagingStore } from './staging-store';

export interface GroupReportDeps {
  s3: ReportBucket;
  staging: StagingStore;
  db: LedgerDb | undefined;
  eventBridge: Pick<EventBridgeDeps, 'eventBridge' | 'busName'>;
}

export interface WriteGroupReportInput {
  month: string;
  activeLeases: ActiveLease[];
  /** Where collectAccountDailyPage staged the month's account-day costs (under S3_KEY_PREFIX), and how many pages. */
  staging: { prefix: string; pages: number };
}

export interface GroupReport {
  month: string;
  bucket: string;
  groupsKey: string;
  leasesKey: string;
  checksumSha256: string;
  leaseChecksumSha256: string;
  total: string;
  groups: GroupTotal[];
  leases: number;
}

/** RFC 4180, text cells guarded against spreadsheet formulas as in the lease CSV; amounts as they are. */
const csvOf = (rows: { cells: string[]; text: boolean[] }[]) =>
  rows
    .map(({ cells, text }) =>
      cells
        .map((c, i) => {
          const v = text[i] ? neutraliseCell(c) : c;
          return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
        })
        .join(','),
    )
    .map((r) => `${r}\r\n`)
    .join('');

export function createGroupReportActivities(deps: GroupReportDeps) {
  return {
    /**
     * The month's two CSVs, from the ledger (ended leases: their counted daily costs in the month)
     * and the staged account-day costs (active leases, month to date), each uploaded with a
     * verified SHA-256. Deterministic per month: a retry overwrites the same objects.
     */
    async writeGroupReport(input: WriteGroupReportInput): Promise<GroupReport> {
      if (!deps.db)
        throw ApplicationFailure.nonRetryable(
          'the group report reads the cost ledger, which is off (LEDGER_ENABLED=false)',
          ErrorType.InvalidLedgerEntry,
        );
      const month = monthRange(input.month);
      const ended = await queryMonthLeaseCosts(deps.db, month);
      const counted = new Set<string>();
      const rows: GroupReportLeaseRow[] = ended.map((l) => {
        const elsewhere = new Set(l.days_elsewhere);
        let days = 0;
        const from = l.window_start > month.start ? l.window_start : month.start;
        const to = l.window_end < month.end ? l.window_end : month.end;
        for (let d = from; d < to; d = addDays(d, 1)) {
          if (elsewhere.has(d)) continue;
          days++;
          counted.add(`${l.account_id}/${d}`);
        }
        return {
          group: l.cost_report_group ?? NO_GROUP,
          leaseUuid: l.lease_uuid,
          userEmail: l.user_email,
          accountId: l.account_id,
          source: 'ended',
          daysInMonth: days,
          cost: normaliseAmount(l.cost),
        };
      });

      const daily = new Map<string, Map<string, string>>();
      for (let p = 0; p < input.staging.pages; p++) {
        for (const r of await deps.staging.getPart(partKey(`${deps.s3.keyPrefix}${input.staging.prefix}`, 0, p))) {
          const days = daily.get(r.resourceName) ?? new Map<string, string>();
          daily.set(r.resourceName, days);
          if (r.date) days.set(r.date, addAmounts(days.get(r.date) ?? '0', r.cost));
        }
      }
      rows.push(...activeLeaseRows(input.activeLeases, month, daily, counted));
      rows.sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : a.leaseUuid < b.leaseUuid ? -1 : 1));
      const groups = groupTotals(rows);
      const total = formatAmount(sumAmounts(groups.map((g) => g.cost)));

      const lastDay = addDays(month.end, -1);
      const groupCsv = csvOf([
        { cells: ISB_GROUP_CSV_HEADER, text: [] },
        ...groups.map((g) => ({
          cells: [g.group === NO_GROUP ? ISB_NO_GROUP : g.group, month.start, lastDay, g.cost, 'USD'],
          text: [true],
        })),
      ]);
      const leaseCsv = csvOf([
        { cells: LEASE_CSV_HEADER, text: [] },
        ...rows.map((r) => ({
          cells: [r.group, r.leaseUuid, r.userEmail, r.accountId, r.source, String(r.daysInMonth), r.cost, 'USD'],
          text: [true, false, true],
        })),
      ]);
      const keys = groupReportKeys(deps.s3.keyPrefix, input.month);
      const checksumSha256 = await putVerifiedObject(
        deps.s3,
        keys.groups,
        Buffer.from(groupCsv, 'utf8'),
        'text/csv; charset=utf-8',
      );
      const leaseChecksumSha256 = await putVerifiedObject(
        deps.s3,
        keys.leases,
        Buffer.from(leaseCsv, 'utf8'),
        'text/csv; charset=utf-8',
      );
      return {
        month: input.month,
        bucket: deps.s3.bucket,
        groupsKey: keys.groups,
        leasesKey: keys.leases,
        checksumSha256,
        leaseChecksumSha256,
        total,
        groups,
        leases: rows.length,
      };
    },

    /** `GroupCostReportGenerated` (source isb-costs), its detail checked against its one schema. */
    async publishGroupReport(report: GroupReport): Promise<{ eventId: string }> {
      const detail = GroupCostReportGeneratedDetail.parse({
        schemaVersion: 1,
        reportMonth: report.month,
        fileName: report.groupsKey,
        bucketName: report.bucket,
        timestamp: new Date().toISOString(),
        leaseFileName: report.leasesKey,
        checksumSha256: report.checksumSha256,
        leaseChecksumSha256: report.leaseChecksumSha256,
        totalCost: report.total,
        currency: 'USD',
        groups: report.groups.length,
        leases: report.leases,
      });
      const [eventId] = await putEvents(
        deps.eventBridge,
        [{ detailType: GROUP_REPORT_DETAIL_TYPE, detail }],
        `month ${report.month}`,
      );
      return { eventId: eventId! };
    },
  };
}

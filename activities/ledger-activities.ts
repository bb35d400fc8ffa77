import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { ErrorType } from '../src/domain/errors';
import { LedgerEntry, ledgerRowsOf, type LedgerOutcome } from '../src/domain/ledger';
import type { LedgerDb } from '../src/infrastructure/ledger-db';
import type { SummaryReader } from '../src/infrastructure/summary-reader';

export interface LedgerDeps {
  /** Undefined when the ledger is turned off (LEDGER_ENABLED=false). */
  db: LedgerDb | undefined;
  readSummary: SummaryReader;
}

// Well under PostgreSQL's 65,535 bind parameters per statement at 6 columns a row.
const ROWS_PER_INSERT = 1000;

const invalid = (message: string) => ApplicationFailure.nonRetryable(message, ErrorType.InvalidLedgerEntry);

/** The ledger in PostgreSQL: this file owns it (the summary comes through an injected reader). */
export function createLedgerActivities(deps: LedgerDeps) {
  return {
    /**
     * Records one published report version. One transaction, keyed by (lease, version): a retried
     * attempt finds its row and adds nothing, so nothing is ever counted twice. Queries count only
     * the newest version of a lease, so version N+1 supersedes N without deleting it.
     */
    async recordInLedger(input: LedgerEntry): Promise<LedgerOutcome> {
      const entry = LedgerEntry.safeParse(input);
      if (!entry.success) throw invalid(`ledger entry: ${z.prettifyError(entry.error)}`);
      const e = entry.data;
      if (!deps.db) return { outcome: 'disabled', dailyRows: 0 };

      const read = await deps.readSummary(e.leaseUuid, e.version);
      if ('problem' in read) throw invalid(read.problem);
      let rows: ReturnType<typeof ledgerRowsOf>;
      try {
        rows = ledgerRowsOf(e, read.summary);
      } catch (err) {
        throw invalid(`summary of ${e.leaseUuid} v${e.version}: ${(err as Error).message}`);
      }

      return deps.db
        .transaction()
        .execute(async (trx) => {
          const inserted = await trx
            .insertInto('ledger_report')
            .values({
              lease_uuid: e.leaseUuid,
              version: e.version,
              user_email: e.userEmail,
              account_id: e.accountId,
              window_start: e.billingWindow.start,
              window_end: e.billingWindow.end,
              total: rows.total,
              currency: 'USD',
              bucket: e.bucket,
              report_key: e.reportKey,
              published_at: e.publishedAt,
              cost_report_group: e.attribution?.costReportGroup ?? null,
              lease_template_name: e.attribution?.originalLeaseTemplateName ?? null,
              max_spend: e.attribution?.maxSpend ?? null,
              total_cost_accrued: e.attribution?.totalCostAccrued ?? null,
              termination_reason: e.attribution?.terminationReason ?? null,
              cost_scope: rows.costScope,
            })
            .onConflict((oc) => oc.columns(['lease_uuid', 'version']).doNothing())
            .returning('version')
            .executeTakeFirst();
          if (!inserted) return { outcome: 'already', dailyRows: rows.daily.length } as const;
          for (let i = 0; i < rows.daily.length; i += ROWS_PER_INSERT) {
            await trx
              .insertInto('ledger_daily_cost')
              .values(
                rows.daily.slice(i, i + ROWS_PER_INSERT).map((d) => ({
                  lease_uuid: e.leaseUuid,
                  version: e.version,
                  day: d.date,
                  service: d.service,
                  region: d.region,
                  cost: d.cost,
                })),
              )
              .execute();
          }
          // Shared days: which of them this lease counts (docs/chargeback.md), so each counts once across leases.
          const shared = (e.attribution?.sharedDays ?? []).flatMap((sd) =>
            sd.days.map((day) => ({
              lease_uuid: e.leaseUuid,
              version: e.version,
              day,
              other_lease_uuid: sd.leaseUuid,
              counted: sd.countedHere.includes(day),
            })),
          );
          if (shared.length > 0) await trx.insertInto('ledger_shared_day').values(shared).execute();
          return { outcome: 'recorded', dailyRows: rows.daily.length } as const;
        })
        .catch((err: unknown) => {
          // Data exceptions and integrity violations (SQLSTATE classes 22 and 23) are the data's fault: a
          // retry sends the same rows. Connection and server errors stay retryable.
          const code = (err as { code?: unknown }).code;
          if (typeof code === 'string' && /^2[23]/.test(code))
            throw invalid(`PostgreSQL refused ${e.leaseUuid} v${e.version}: ${(err as Error).message} (${code})`);
          throw err;
        });
    },
  };
}

import type { Logger as SdkLogger } from '@temporalio/common';
import { Kysely, PostgresDialect, sql, type Generated, type Transaction } from 'kysely';
import { Migrator, type Migration } from 'kysely/migration';
import pg from 'pg';
import { NO_GROUP, NO_REASON, NO_TEMPLATE } from '../domain/chargeback';
import { DEFAULT_COST_SCOPE } from '../domain/cost-scope';
import type { CostGrouping, CostsFilter, CostsLine } from '../domain/ledger';

// The ledger's schema, migrations and queries. Writes are the activity's (activities/ledger.ts).
//
// One fact table, ledger_daily_cost: the amount per day, service and region of each report
// version. Totals per lease, user, service, region or month are SUMs over it, so no grouping can
// disagree with another; ledger_report keeps the report's own facts (who, which account, which
// window, the CSV's exact total and where it is). Amounts are NUMERIC, read back as text.

export interface LedgerTables {
  ledger_report: {
    lease_uuid: string;
    version: number;
    user_email: string;
    account_id: string;
    window_start: string;
    window_end: string;
    total: string;
    currency: string;
    bucket: string;
    report_key: string;
    published_at: string;
    recorded_at: Generated<string>;
    /** From the ISB record and the event; NULL where they did not say (and in rows recorded before). */
    cost_report_group: string | null;
    lease_template_name: string | null;
    max_spend: string | null;
    total_cost_accrued: string | null;
    termination_reason: string | null;
    /** Which record types the report counts (COST_SCOPE); rows recorded before the column are `usage`. */
    cost_scope: Generated<string>;
  };
  /** Days a report shares with another lease of its account; `counted` says whether this report's rows count them. */
  ledger_shared_day: { lease_uuid: string; version: number; day: string; other_lease_uuid: string; counted: boolean };
  ledger_daily_cost: {
    lease_uuid: string;
    version: number;
    day: string;
    service: string;
    region: string;
    cost: string;
  };
  /** The newest version of each lease: what every query counts (a re-run supersedes the one before). */
  ledger_current_report: LedgerTables['ledger_report'];
}
export type LedgerDb = Kysely<LedgerTables>;

/**
 * Applied in name order, each once, inside the migration transaction. Never edit one that has shipped: add another.
 * Each spells out what it creates (the current-report view too) rather than sharing a helper, so a later change
 * cannot rewrite what a shipped migration does.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001_ledger': {
    async up(db) {
      await db.schema
        .createTable('ledger_report')
        .addColumn('lease_uuid', 'uuid', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().check(sql`version >= 1`))
        .addColumn('user_email', 'text', (c) => c.notNull())
        .addColumn('account_id', 'char(12)', (c) => c.notNull())
        .addColumn('window_start', 'date', (c) => c.notNull())
        .addColumn('window_end', 'date', (c) => c.notNull())
        .addColumn('total', 'numeric', (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('bucket', 'text', (c) => c.notNull())
        .addColumn('report_key', 'text', (c) => c.notNull())
        .addColumn('published_at', 'timestamptz', (c) => c.notNull())
        .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('ledger_report_pk', ['lease_uuid', 'version'])
        .addCheckConstraint('ledger_report_window', sql`window_start < window_end`)
        .execute();
      await db.schema
        .createTable('ledger_daily_cost')
        .addColumn('lease_uuid', 'uuid', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('day', 'date', (c) => c.notNull())
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('cost', 'numeric', (c) => c.notNull())
        .addPrimaryKeyConstraint('ledger_daily_cost_pk', ['lease_uuid', 'version', 'day', 'service', 'region'])
        .addForeignKeyConstraint(
          'ledger_daily_cost_report',
          ['lease_uuid', 'version'],
          'ledger_report',
          ['lease_uuid', 'version'],
          (f) => f.onDelete('cascade'),
        )
        .execute();
      // Filters by user and account, and cost days for --since/--until.
      await db.schema.createIndex('ledger_report_user').on('ledger_report').column('user_email').execute();
      await db.schema.createIndex('ledger_report_account').on('ledger_report').column('account_id').execute();
      await db.schema.createIndex('ledger_daily_cost_day').on('ledger_daily_cost').column('day').execute();
      await db.schema
        .createView('ledger_current_report')
        .as(
          db
            .selectFrom('ledger_report')
            .selectAll()
            .distinctOn('lease_uuid')
            .orderBy('lease_uuid')
            .orderBy('version', 'desc') as never,
        )
        .execute();
    },
  },
  // Chargeback: what the lease belongs to, and shared days. Additive: nullable columns, a new table.
  '0002_chargeback': {
    async up(db) {
      await db.schema
        .alterTable('ledger_report')
        .addColumn('cost_report_group', 'text')
        .addColumn('lease_template_name', 'text')
        .addColumn('max_spend', 'numeric')
        .addColumn('total_cost_accrued', 'numeric')
        .addColumn('termination_reason', 'text')
        .execute();
      await db.schema
        .createTable('ledger_shared_day')
        .addColumn('lease_uuid', 'uuid', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('day', 'date', (c) => c.notNull())
        .addColumn('other_lease_uuid', 'uuid', (c) => c.notNull())
        .addColumn('counted', 'boolean', (c) => c.notNull())
        .addPrimaryKeyConstraint('ledger_shared_day_pk', ['lease_uuid', 'version', 'day', 'other_lease_uuid'])
        .addForeignKeyConstraint(
          'ledger_shared_day_report',
          ['lease_uuid', 'version'],
          'ledger_report',
          ['lease_uuid', 'version'],
          (f) => f.onDelete('cascade'),
        )
        .execute();
      // `select *` in a view is expanded when it is created: re-create it with the new columns (appended, as OR REPLACE requires).
      await db.schema
        .createView('ledger_current_report')
        .orReplace()
        .as(
          db
            .selectFrom('ledger_report')
            .selectAll()
            .distinctOn('lease_uuid')
            .orderBy('lease_uuid')
            .orderBy('version', 'desc') as never,
        )
        .execute();
    },
  },
  // Which record types each report counts, so totals never add two scopes unawares. Every row
  // recorded before counted Usage only, which the default says.
  '0003_cost_scope': {
    async up(db) {
      await db.schema
        .alterTable('ledger_report')
        .addColumn('cost_scope', 'text', (c) => c.notNull().defaultTo(DEFAULT_COST_SCOPE))
        .execute();
      await db.schema
        .createView('ledger_current_report')
        .orReplace()
        .as(
          db
            .selectFrom('ledger_report')
            .selectAll()
            .distinctOn('lease_uuid')
            .orderBy('lease_uuid')
            .orderBy('version', 'desc') as never,
        )
        .execute();
    },
  },
};

// Any constant will do, as long as nothing else on the server takes the same advisory lock.
const MIGRATION_LOCK = 0x1ea5e_c057;

/**
 * Brings the schema to the latest migration, idempotently. Everything, the Migrator's own
 * bookkeeping tables included, happens in one transaction behind a transaction-level advisory
 * lock: two processes starting at once take turns, and the second finds nothing left to do
 * (without the lock, both would race on `create table if not exists`).
 */
export async function migrateLedger(db: LedgerDb): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK)})`.execute(trx);
    // An older build's worker (still running its pinned leases) that restarts after a newer build
    // migrated finds migrations it does not know. Migrations only add, so it runs on the newer
    // schema as it is; the Migrator would refuse to start it.
    const applied = await appliedMigrations(trx);
    const ours = Object.keys(MIGRATIONS);
    if (applied.some((name) => !ours.includes(name)) && ours.every((name) => applied.includes(name))) return [];
    const migrator = new Migrator({
      db: trx,
      provider: { getMigrations: () => Promise.resolve(MIGRATIONS) },
      migrationTableName: 'ledger_migration',
      migrationLockTableName: 'ledger_migration_lock',
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    return (results ?? []).map((r) => r.migrationName);
  });
}

async function appliedMigrations(trx: Transaction<LedgerTables>): Promise<string[]> {
  const {
    rows: [table],
  } = await sql<{ exists: boolean }>`select to_regclass('ledger_migration') is not null as exists`.execute(trx);
  if (!table?.exists) return [];
  const { rows } = await sql<{ name: string }>`select name from ledger_migration`.execute(trx);
  return rows.map((r) => r.name);
}

// Dates stay text (pg makes a local-time Date of a DATE otherwise); NUMERIC is text already.
const DATE_OID = 1082;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === DATE_OID
      ? (v: string) => v
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** A pool on DATABASE_URL; `destroy()` closes it. */
export function openLedger(url: string, opts: { max?: number; log?: Pick<SdkLogger, 'warn'> } = {}): LedgerDb {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 4,
    types,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 10_000,
  });
  // A server restart or failover ends idle connections. The pool has dropped the client by then and
  // the next query reconnects; unheard, the pool's 'error' event would end the whole process.
  pool.on('error', (err: Error & { code?: string }) => {
    opts.log?.warn("The cost ledger's server closed an idle connection; the next query opens a new one", {
      error: err.message,
      code: err.code,
    });
  });
  return new Kysely<LedgerTables>({ dialect: new PostgresDialect({ pool }) });
}

/** `postgres://user:***@host/db`: the URL without its password, for messages and logs. */
export function redactDatabaseUrl(url: string): string {
  if (!URL.canParse(url)) return '(unparsable DATABASE_URL)';
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** The ledger cannot be reached or migrated: a configuration or availability problem, said in one line. */
export class LedgerUnavailable extends Error {
  constructor(url: string, cause: unknown) {
    super(
      `cannot use the cost ledger at ${redactDatabaseUrl(url)} (is PostgreSQL running? is DATABASE_URL right?): ${(cause as Error).message || String(cause)}`,
      { cause },
    );
    this.name = 'LedgerUnavailable';
  }
}

/**
 * Exact totals per group over the newest version of each lease. The sum is NUMERIC, returned as
 * text and never through a float; ties are ordered by key so the output is stable.
 */
export async function queryCosts(db: LedgerDb, filter: CostsFilter, by: CostGrouping): Promise<CostsLine[]> {
  const key = {
    lease: sql<string>`r.lease_uuid::text`,
    user: sql<string>`r.user_email`,
    service: sql<string>`d.service`,
    region: sql<string>`d.region`,
    month: sql<string>`to_char(d.day, 'YYYY-MM')`,
    // Literals, not parameters: the SELECT and the GROUP BY must be the same expression.
    group: sql<string>`coalesce(r.cost_report_group, ${sql.lit(NO_GROUP)})`,
    template: sql<string>`coalesce(r.lease_template_name, ${sql.lit(NO_TEMPLATE)})`,
    reason: sql<string>`coalesce(r.termination_reason, ${sql.lit(NO_REASON)})`,
    scope: sql<string>`r.cost_scope`,
  }[by];
  const cost = sql<string>`sum(d.cost)`;
  let q = db
    .selectFrom('ledger_current_report as r')
    .innerJoin('ledger_daily_cost as d', (j) =>
      j.onRef('d.lease_uuid', '=', 'r.lease_uuid').onRef('d.version', '=', 'r.version'),
    )
    .select([
      key.as('key'),
      sql<string>`${cost}::text`.as('cost'),
      sql<number>`count(distinct r.lease_uuid)::int`.as('leases'),
    ])
    .$if(by === 'lease', (b) =>
      b.select([sql<string>`min(r.user_email)`.as('user'), sql<string>`min(r.account_id)`.as('account')]),
    )
    .groupBy(key)
    .orderBy(cost, 'desc')
    .orderBy(key);
  if (filter.user) q = q.where('r.user_email', '=', filter.user);
  if (filter.account) q = q.where('r.account_id', '=', filter.account);
  if (filter.since) q = q.where('d.day', '>=', filter.since);
  if (filter.until) q = q.where('d.day', '<=', filter.until);
  if (filter.scope) q = q.where('r.cost_scope', '=', filter.scope);
  return q.where(countedOnce).execute();
}

/** A daily row counts unless its day is a shared day that another lease counts. */
const countedOnce = sql<boolean>`not exists (select 1 from ledger_shared_day s where s.lease_uuid = r.lease_uuid and s.version = r.version and s.day = d.day and not s.counted)`;

/** An ended lease's part of a month, from its newest report version: the monthly group report's rows. */
export interface MonthLeaseCost {
  lease_uuid: string;
  user_email: string;
  account_id: string;
  cost_report_group: string | null;
  window_start: string;
  window_end: string;
  /** Sum of the lease's counted daily rows in the month; '0' when it has none. */
  cost: string;
  /** Shared days in the month that another lease counts. */
  days_elsewhere: string[];
}

/**
 * Every lease whose billing window overlaps `month` (end exclusive), with the exact sum of its
 * counted daily costs in that month (NUMERIC, as text).
 */
export async function queryMonthLeaseCosts(
  db: LedgerDb,
  month: { start: string; end: string },
): Promise<MonthLeaseCost[]> {
  const rows = await db
    .selectFrom('ledger_current_report as r')
    .select([
      sql<string>`r.lease_uuid::text`.as('lease_uuid'),
      'r.user_email',
      'r.account_id',
      'r.cost_report_group',
      'r.window_start',
      'r.window_end',
      sql<string>`coalesce((select sum(d.cost) from ledger_daily_cost d where d.lease_uuid = r.lease_uuid and d.version = r.version
        and d.day >= ${month.start} and d.day < ${month.end} and ${countedOnce}), 0)::text`.as('cost'),
      sql<
        string[]
      >`array(select s.day::text from ledger_shared_day s where s.lease_uuid = r.lease_uuid and s.version = r.version
        and not s.counted and s.day >= ${month.start} and s.day < ${month.end} order by s.day)`.as('days_elsewhere'),
    ])
    .where('r.window_start', '<', month.end)
    .where('r.window_end', '>', month.start)
    .orderBy('r.lease_uuid')
    .execute();
  return rows;
}

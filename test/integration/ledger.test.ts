// The ledger's activity, migrations and queries against both servers it runs on: the embedded
// PGlite that dev, demo and the tests serve over the wire protocol, and a real PostgreSQL that
// this file starts (Debian's package; skipped loudly where it cannot run).
import { ApplicationFailure } from '@temporalio/common';
import { Decimal } from 'decimal.js';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startEmbeddedLedger } from '../../support/ledger-server';
import { ErrorType } from '../../src/domain/errors';
import { migrateLedger, openLedger, queryCosts, type LedgerDb } from '../../src/infrastructure/ledger-db';
import { dailyRows, ledgerFixture, newLease, summaryOf } from '../helpers/ledger';
import { startRealPostgres } from '../helpers/postgres';
import { waitFor } from '../helpers/wait';

interface Server {
  url: string;
  stop(): Promise<void>;
}
const backends: [string, () => Promise<Server | { skip: string }>][] = [
  ['embedded PGlite over the wire protocol', () => startEmbeddedLedger()],
  ['real PostgreSQL (Debian)', startRealPostgres],
];

const WINDOW = { start: '2026-03-01', end: '2026-03-04' };

describe.each(backends)('ledger on %s', (name, start) => {
  let server: Server | undefined;
  let skipped: string | undefined;
  let db: LedgerDb;
  let fx: Awaited<ReturnType<typeof ledgerFixture>>;

  beforeAll(async () => {
    const started = await start();
    if ('skip' in started) {
      skipped = started.skip;
      console.warn(`*** LEDGER TEST ON ${name.toUpperCase()} SKIPPED: ${skipped} ***`);
      return;
    }
    server = started;
    db = openLedger(server.url);
    fx = await ledgerFixture(inject('motoEndpoint'), db);
  });
  afterAll(async () => {
    await db?.destroy();
    fx?.s3.destroy();
    await server?.stop();
  });

  it('migrates idempotently, with several processes starting at once', async (ctx) => {
    if (skipped) ctx.skip(skipped);
    // Separate pools stand for separate worker processes: each has its own connections.
    const pools = [openLedger(server!.url), openLedger(server!.url), openLedger(server!.url)];
    try {
      const applied = await Promise.all(pools.map((p) => migrateLedger(p)));
      expect(applied.flat()).toEqual(['0001_ledger', '0002_chargeback', '0003_cost_scope']);
      expect(await migrateLedger(db)).toEqual([]);
      // A newer build has migrated further: this (older) build starts on that schema, changing nothing.
      await sql`insert into ledger_migration (name, timestamp) values ('9999_from_a_newer_build', now()::text)`.execute(
        db,
      );
      try {
        expect(await migrateLedger(db)).toEqual([]);
      } finally {
        await sql`delete from ledger_migration where name = '9999_from_a_newer_build'`.execute(db);
      }
    } finally {
      await Promise.all(pools.map((p) => p.destroy()));
    }
  });

  it('records a report exactly once however often the activity is retried, and a re-run supersedes it', async (ctx) => {
    if (skipped) ctx.skip(skipped);
    await migrateLedger(db);
    const v1 = newLease({
      window: WINDOW,
      daily: dailyRows(WINDOW, [
        { service: 'Amazon EC2', region: 'eu-west-2', perDay: '1.000000001' },
        { service: 'Amazon S3', region: 'us-east-1', perDay: '0.0000000007' },
      ]),
    });
    await fx.putSummary(v1);
    // Two attempts at once (a retry racing a slow first attempt), then a third.
    const outcomes = await Promise.all([fx.recordInLedger(fx.entryOf(v1)), fx.recordInLedger(fx.entryOf(v1))]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['already', 'recorded']);
    expect((await fx.recordInLedger(fx.entryOf(v1))).outcome).toBe('already');
    const total = (r: { daily: { cost: string }[] }) =>
      r.daily.reduce((a, d) => a.plus(d.cost), new Decimal(0)).toFixed();
    const leaseLine = async () => (await queryCosts(db, {}, 'lease')).find((l) => l.key === v1.leaseUuid);
    expect(new Decimal((await leaseLine())!.cost).toFixed()).toBe(total(v1));
    expect(total(v1)).toBe('3.0000000051');

    const v2 = {
      ...v1,
      version: 2,
      daily: dailyRows(WINDOW, [{ service: 'Amazon EC2', region: 'eu-west-2', perDay: '2.5' }]),
    };
    expect((await fx.publish(v2)).outcome).toBe('recorded');
    const line = await leaseLine();
    expect(new Decimal(line!.cost).toFixed()).toBe(total(v2));
    expect(line!.leases).toBe(1);
    // v1 stays, as history; it is simply not counted.
    const versions = await db
      .selectFrom('ledger_report')
      .select('version')
      .where('lease_uuid', '=', v1.leaseUuid)
      .orderBy('version')
      .execute();
    expect(versions.map((v) => v.version)).toEqual([1, 2]);
  });

  it('refuses bad data at once (not retryable) and writes nothing', async (ctx) => {
    if (skipped) ctx.skip(skipped);
    await migrateLedger(db);
    const lease = newLease({
      window: WINDOW,
      daily: dailyRows(WINDOW, [{ service: 'AWS Lambda', region: 'eu-west-1', perDay: '0.1' }]),
    });
    const refused = async (summary?: unknown) => {
      if (summary !== undefined) await fx.putSummary(lease, summary);
      const err = await fx.recordInLedger(fx.entryOf(lease)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({ type: ErrorType.InvalidLedgerEntry, nonRetryable: true });
      return (err as Error).message;
    };
    expect(await refused()).toMatch(/^Report summary s3:\/\/\S+ does not exist/);
    expect(await refused(summaryOf(lease, '0.31'))).toMatch(/add up to 0\.3, not its total 0\.31/);
    expect(await refused({ ...summaryOf(lease), daily: [{ ...lease.daily[0]!, date: '2026-03-04' }] })).toMatch(
      /outside the billing window/,
    );
    expect(await refused({ ...summaryOf(lease), daily: [{ ...lease.daily[0]!, cost: '1e3' }] })).toMatch(
      /plain decimal string/,
    );
    expect(await refused({ ...summaryOf(lease), version: 7 })).toMatch(/belongs to \S+ v7, not \S+ v1$/);
    // Adds up, but not to the CSV's total the workflow passes.
    const other = {
      ...lease,
      daily: dailyRows(WINDOW, [{ service: 'AWS Lambda', region: 'eu-west-1', perDay: '0.2' }]),
    };
    expect(await refused(summaryOf(other))).toMatch(/summary's total 0\.6 is not the report's 0\.3/);
    const rows = await db
      .selectFrom('ledger_report')
      .select('version')
      .where('lease_uuid', '=', lease.leaseUuid)
      .execute();
    expect(rows).toEqual([]);
  });

  it('answers readers while a writer records, every answer a consistent total', async (ctx) => {
    if (skipped) ctx.skip(skipped);
    await migrateLedger(db);
    const account = '999900001111';
    const leases = Array.from({ length: 12 }, (_, i) =>
      newLease({
        window: WINDOW,
        accountId: account,
        daily: dailyRows(WINDOW, [{ service: 'Amazon EC2', region: 'eu-west-2', perDay: `${i + 1}.01` }]),
      }),
    );
    for (const l of leases) await fx.putSummary(l);
    // After k leases are recorded, the account's total is one of these prefix sums, never anything between.
    const prefixSums = new Set([new Decimal(0).toFixed()]);
    let acc = new Decimal(0);
    for (const l of leases) prefixSums.add((acc = acc.plus(summaryOf(l).total)).toFixed());
    const reader = openLedger(server!.url, { max: 1 });
    let writing = true;
    const answers: string[] = [];
    const reads = (async () => {
      while (writing) {
        const lines = await queryCosts(reader, { account }, 'service');
        answers.push(new Decimal(lines[0]?.cost ?? '0').toFixed());
      }
    })();
    try {
      for (const l of leases) await fx.recordInLedger(fx.entryOf(l));
    } finally {
      writing = false;
      await reads;
      await reader.destroy();
    }
    expect(answers.length).toBeGreaterThan(3);
    expect(answers.filter((a) => !prefixSums.has(a))).toEqual([]);
    expect(new Set(answers).size).toBeGreaterThan(1);
    expect(new Decimal((await queryCosts(db, { account }, 'service'))[0]!.cost).toFixed()).toBe(acc.toFixed());
    // The amounts are NUMERIC in the database, never float.
    const { rows } = await sql<{
      t: string;
    }>`select format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = 'ledger_daily_cost'::regclass and attname = 'cost'`.execute(
      db,
    );
    expect(rows[0]!.t).toBe('numeric');
  });
});

describe('ledger pool on real PostgreSQL (Debian)', () => {
  let server: Awaited<ReturnType<typeof startRealPostgres>>;
  beforeAll(async () => {
    server = await startRealPostgres();
    if ('skip' in server) console.warn(`*** LEDGER POOL TEST ON REAL POSTGRESQL SKIPPED: ${server.skip} ***`);
  });
  afterAll(async () => {
    if (!('skip' in server)) await server.stop();
  });

  it('survives the server ending an idle connection (a restart or failover): it logs, and the next query reconnects', async (ctx) => {
    if ('skip' in server) return ctx.skip(server.skip);
    const warnings: { message: string; meta?: Record<string, unknown> }[] = [];
    const pool = openLedger(server.url, { max: 1, log: { warn: (message, meta) => warnings.push({ message, meta }) } });
    const admin = openLedger(server.url, { max: 1 });
    try {
      const pid = async () => (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(pool)).rows[0]!.pid;
      const before = await pid(); // the pool's one connection, now idle
      await sql`select pg_terminate_backend(${before})`.execute(admin);
      // Without a listener on the pool, this error would have ended the test process.
      await waitFor(
        async () => (warnings.length > 0 ? true : undefined),
        10_000,
        'the pool to hear of the ended connection',
      );
      expect(warnings).toEqual([
        {
          message: expect.stringMatching(/closed an idle connection/),
          meta: { error: expect.stringMatching(/terminating connection/), code: '57P01' },
        },
      ]);
      expect(await pid()).not.toBe(before);
    } finally {
      await Promise.all([pool.destroy(), admin.destroy()]);
    }
  });
});

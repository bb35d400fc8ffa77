// `lease-costs costs` as an operator runs it: the real CLI process against a ledger holding several
// leases, users and accounts, a re-run (its first version must not count) and a backfilled lease.
// Every expected number is computed here from the reports, independently of the SQL.
import { createServer } from 'node:net';
import { parse } from 'csv-parse/sync';
import { Decimal } from 'decimal.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startEmbeddedLedger, type EmbeddedLedger } from '../../support/ledger-server';
import type { DailyCost } from '../../src/domain/lease-summary';
import { migrateLedger, openLedger, type LedgerDb } from '../../src/infrastructure/ledger-db';
import { runCli } from '../helpers/cli';
import { dailyRows, ledgerFixture, newLease, type TestReport } from '../helpers/ledger';

const ADA = 'ada@example.gov.uk';
const GRACE = 'grace@example.gov.uk';
const [ACCOUNT_A, ACCOUNT_B] = ['111122223333', '444455556666'];

const w1 = { start: '2026-01-30', end: '2026-02-02' };
const l1v1 = newLease({
  userEmail: ADA,
  accountId: ACCOUNT_A,
  window: w1,
  daily: dailyRows(w1, [
    { service: 'Amazon EC2', region: 'eu-west-2', perDay: '1.10' },
    { service: 'Amazon S3', region: 'us-east-1', perDay: '0.0000000001' },
  ]),
});
// The re-run: only this version may count.
const l1v2: TestReport = {
  ...l1v1,
  version: 2,
  daily: dailyRows(w1, [
    { service: 'Amazon EC2', region: 'eu-west-2', perDay: '2.2' },
    { service: 'Amazon S3', region: 'us-east-1', perDay: '0.0000000003' },
  ]),
};
const w2 = { start: '2026-02-10', end: '2026-02-12' };
const l2 = newLease({
  userEmail: ADA,
  accountId: ACCOUNT_B,
  window: w2,
  daily: dailyRows(w2, [{ service: 'AWS Lambda', region: 'eu-west-1', perDay: '0.3' }]),
});
// Backfilled: ended last year, published today; it counts in the months it cost. Its e-mail
// arrives in another case and is kept in the ledger's one form.
const w3 = { start: '2025-11-29', end: '2025-12-02' };
const l3 = newLease({
  userEmail: 'Grace@Example.gov.uk',
  accountId: ACCOUNT_A,
  window: w3,
  daily: dailyRows(w3, [
    { service: 'Amazon EC2', region: 'us-east-1', perDay: '5' },
    { service: 'AWS Lambda', region: 'eu-west-1', perDay: '-0.25' },
  ]),
});
const current = [l1v2, l2, l3];

type Row = DailyCost & { lease: string; user: string; account: string };
const rowsOf = (reports: TestReport[]): Row[] =>
  reports.flatMap((r) =>
    r.daily.map((d) => ({ ...d, lease: r.leaseUuid, user: r.userEmail.toLowerCase(), account: r.accountId })),
  );

/** What the ledger should answer, computed with decimal.js from the reports themselves. */
function expected(key: (r: Row) => string, rows = rowsOf(current)) {
  const groups = new Map<string, { cost: Decimal; leases: Set<string> }>();
  for (const r of rows) {
    const g = groups.get(key(r)) ?? { cost: new Decimal(0), leases: new Set<string>() };
    g.cost = g.cost.plus(r.cost);
    g.leases.add(r.lease);
    groups.set(key(r), g);
  }
  return [...groups]
    .map(([k, g]) => ({ key: k, cost: g.cost.toFixed(), leases: g.leases.size }))
    .sort((a, b) => new Decimal(b.cost).cmp(a.cost) || (a.key < b.key ? -1 : 1));
}

let ledger: EmbeddedLedger;
let db: LedgerDb;
let env: Record<string, string>;

beforeAll(async () => {
  ledger = await startEmbeddedLedger();
  db = openLedger(ledger.url);
  await migrateLedger(db);
  const fx = await ledgerFixture(inject('motoEndpoint'), db);
  for (const r of [l1v1, l2, l1v2, l3]) expect((await fx.publish(r)).outcome).toBe('recorded');
  fx.s3.destroy();
  env = { DATABASE_URL: ledger.url };
});
afterAll(async () => {
  await db?.destroy();
  await ledger?.stop();
});

describe('lease-costs costs', () => {
  it('--by service --json: exact totals of the newest versions only', async () => {
    const res = await runCli(['costs', '--by', 'service', '--json'], env);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as { by: string; currency: string; total: string; lines: unknown[] };
    expect(out.lines).toEqual(expected((r) => r.service));
    expect(out.total).toBe(
      rowsOf(current)
        .reduce((a, r) => a.plus(r.cost), new Decimal(0))
        .toFixed(),
    );
    // The first version of the re-run lease would have made EC2 cost this; it must not.
    expect(out.lines).not.toContainEqual(expected((r) => r.service, rowsOf([l1v1, l2, l3]))[0]);
    expect(out).toMatchObject({ by: 'service', currency: 'USD' });
  });

  it('--by user --csv, and --by month with a day range (backfilled lease in its own months)', async () => {
    const users = await runCli(['costs', '--by', 'user', '--csv'], env);
    expect(users.code, users.stderr).toBe(0);
    const [header, ...rows] = parse(users.stdout) as string[][];
    expect(header).toEqual(['user', 'cost_usd', 'leases']);
    expect(rows).toEqual(expected((r) => r.user).map((l) => [l.key, l.cost, String(l.leases)]));
    expect(rows.map((r) => r[0])).toEqual(expect.arrayContaining([ADA, GRACE]));

    const months = await runCli(
      ['costs', '--by', 'month', '--format', 'json', '--since', '2025-12-01', '--until', '2026-01-31'],
      env,
    );
    expect(months.code, months.stderr).toBe(0);
    const inRange = rowsOf(current).filter((r) => r.date >= '2025-12-01' && r.date <= '2026-01-31');
    expect(JSON.parse(months.stdout).lines).toEqual(expected((r) => r.date.slice(0, 7), inRange));
    expect(
      expected((r) => r.date.slice(0, 7), inRange)
        .map((l) => l.key)
        .sort(),
    ).toEqual(['2025-12', '2026-01']);
  });

  it('filters by user (any case) and account; --by lease names the user and account', async () => {
    const grace = await runCli(['costs', '--by', 'lease', '--user', 'GRACE@example.gov.uk', '--json'], env);
    expect(grace.code, grace.stderr).toBe(0);
    const [line, ...rest] = JSON.parse(grace.stdout).lines as {
      key: string;
      user: string;
      account: string;
      cost: string;
    }[];
    expect(rest).toEqual([]);
    expect(line).toEqual({ ...expected((r) => r.lease, rowsOf([l3]))[0], user: GRACE, account: ACCOUNT_A });

    const table = await runCli(['costs', '--by', 'region', '--account', ACCOUNT_A], env);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REGION\s+COST \(USD\)\s+LEASES$/);
    const want = expected(
      (r) => r.region,
      rowsOf(current).filter((r) => r.account === ACCOUNT_A),
    );
    expect(lines.slice(1, -2).map((l) => l.trim().split(/\s+/))).toEqual(
      want.map((l) => [l.key, l.cost, String(l.leases)]),
    );
    expect(lines.at(-1)!.trim().split(/\s+/)).toEqual([
      'total',
      want.reduce((a, l) => a.plus(l.cost), new Decimal(0)).toFixed(),
    ]);
  });

  it('nothing matching: a clear line on stderr, exit 0, no output', async () => {
    const res = await runCli(['costs', '--user', 'nobody@example.gov.uk'], env);
    expect(res).toMatchObject({ code: 0, stdout: '' });
    expect(res.stderr.trim()).toBe('lease-costs: no costs in the ledger for user nobody@example.gov.uk');
  });

  it('bad arguments or configuration: one line, exit 2; an unreachable ledger: exit 4', async () => {
    const oneLine = (r: { code: number; stderr: string }, code: number, re: RegExp) => {
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    };
    oneLine(await runCli(['costs', '--since', '2026-02-30'], env), 2, /--since.*must be YYYY-MM-DD/);
    oneLine(
      await runCli(['costs', '--since', '2026-03-01', '--until', '2026-02-01'], env),
      2,
      /--until 2026-02-01 is before --since 2026-03-01/,
    );
    oneLine(await runCli(['costs', '--by', 'colour'], env), 2, /--by.*colour.*lease, user, service, region, month/);
    oneLine(await runCli(['costs', '--account', '1234'], env), 2, /--account.*12-digit/);
    oneLine(await runCli(['costs', '--user', 'not-an-email'], env), 2, /--user.*e-mail/);
    // Configuration problems use the config check's own message, which lists each variable.
    const noUrl = await runCli(['costs'], {});
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toMatch(/DATABASE_URL: is required/);
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
    const down = await runCli(['costs'], { DATABASE_URL: `postgres://ledger:s3cret@127.0.0.1:${closed}/ledger` });
    oneLine(down, 4, /cannot use the cost ledger at postgres:\/\/ledger:\*\*\*@127\.0\.0\.1/);
    expect(down.stderr).not.toContain('s3cret');
  });
});

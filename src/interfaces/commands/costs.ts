import { neutraliseCell } from '../../domain/csv';
import type { CostGrouping, CostsFilter, CostsLine } from '../../domain/ledger';
import { formatAmount, normaliseAmount, sumAmounts } from '../../domain/money';
import type { Config } from '../../infrastructure/config';
import { LedgerUnavailable, migrateLedger, openLedger, queryCosts } from '../../infrastructure/ledger-db';

export type CostsFormat = 'table' | 'csv' | 'json';
export interface CostsOptions extends CostsFilter {
  by: CostGrouping;
  format: CostsFormat;
}

/**
 * `lease-costs costs`: exact totals from the ledger, newest report version of each lease only.
 * The schema is migrated first (idempotent), so the command works on a fresh database too.
 */
export async function costsCommand(config: Config, opts: CostsOptions): Promise<void> {
  const url = config.DATABASE_URL!;
  const db = openLedger(url, { max: 1 });
  try {
    let lines: CostsLine[];
    try {
      await migrateLedger(db);
      // Canonical amounts, as everywhere else: NUMERIC sums keep their inputs' trailing zeros.
      lines = (await queryCosts(db, opts, opts.by)).map((l) => ({ ...l, cost: normaliseAmount(l.cost) }));
      // Reports of different COST_SCOPEs count different record types: say so rather than add them unawares.
      if (!opts.scope && opts.by !== 'scope') {
        const scopes = await queryCosts(db, opts, 'scope');
        if (scopes.length > 1) {
          console.error(
            `lease-costs: these totals add reports of different COST_SCOPEs (${scopes.map((s) => `${s.key}: ${s.leases} leases`).join(', ')}); see --by scope, or pick one with --scope`,
          );
        }
      }
    } catch (err) {
      throw new LedgerUnavailable(url, err);
    }
    const total = formatAmount(sumAmounts(lines.map((l) => l.cost)));
    if (lines.length === 0) console.error(`lease-costs: no costs in the ledger${describeFilter(opts)}`);
    process.stdout.write(render(lines, total, opts));
  } finally {
    await db.destroy();
  }
}

function describeFilter(f: CostsFilter): string {
  const parts = [
    f.user && `user ${f.user}`,
    f.account && `account ${f.account}`,
    f.since && `from ${f.since}`,
    f.until && `until ${f.until}`,
    f.scope && `COST_SCOPE ${f.scope}`,
  ].filter(Boolean);
  return parts.length ? ` for ${parts.join(', ')}` : '';
}

function render(lines: CostsLine[], total: string, opts: CostsOptions): string {
  const withLease = opts.by === 'lease';
  if (opts.format === 'json') {
    return `${JSON.stringify({ by: opts.by, currency: 'USD', total, lines }, null, 2)}\n`;
  }
  const header = [opts.by, ...(withLease ? ['user', 'account'] : []), 'cost_usd', 'leases'];
  const cells = (l: CostsLine) => [
    l.key,
    ...(withLease ? [l.user ?? '', l.account ?? ''] : []),
    l.cost,
    String(l.leases),
  ];
  if (opts.format === 'csv') {
    // RFC 4180, and text cells guarded against spreadsheet formulas as in the report CSV.
    const field = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const row = (r: string[], guard: boolean) =>
      r.map((c, i) => field(guard && i < r.length - 2 ? neutraliseCell(c) : c)).join(',');
    return [row(header, false), ...lines.map((l) => row(cells(l), true))].map((r) => `${r}\r\n`).join('');
  }
  if (lines.length === 0) return '';
  // A table for people: costs right-aligned, then the total of the lines shown.
  const rows = [
    header.map((h) => h.toUpperCase().replace('_USD', ' (USD)')),
    ...lines.map(cells),
    ['total', ...(withLease ? ['', ''] : []), total, ''],
  ];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const numeric = (i: number) => i >= header.length - 2;
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (numeric(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[fmt(rows[0]!), ...rows.slice(1, -1).map(fmt), widths.map((w) => '-'.repeat(w)).join('  '), fmt(rows.at(-1)!)].join('\n')}\n`;
}

// The report build as it was before the byte writer, frozen: the oracle that the golden
// test compares today's bytes with, and the "before" column of the benchmark. It is a second
// implementation of the report's order on purpose, independent of src/domain/csv.ts so that it can
// catch that code's mistakes; it is not used by the report. Do not optimise it.
import { stringify } from 'csv-stringify/sync';
import type Decimal from 'decimal.js';
import { formatAmount, Money, parseAmount } from '../src/domain/money';
import type { CostRow } from '../src/domain/schemas';

const CSV_HEADER = ['Resource Name', 'Service', 'Region', 'Cost'];

// OWASP's formula triggers plus | and %, and the full-width forms some spreadsheets normalise.
const FORMULA_TRIGGERS = new Set(['=', '+', '-', '@', '|', '%', '\t', '\r', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20']);

export function neutraliseCellBefore(s: string): string {
  return s.length > 0 && FORMULA_TRIGGERS.has(s[0]!) ? `'${s}` : s;
}

interface Line {
  row: CostRow;
  cost: Decimal;
}

function aggregate(rows: Iterable<CostRow>): Line[] {
  // A JSON array key cannot collide, whatever the names contain.
  const lines = new Map<string, Line>();
  for (const row of rows) {
    const key = JSON.stringify([row.service, row.region, row.resourceName]);
    const cost = parseAmount(row.cost);
    const line = lines.get(key);
    if (line) line.cost = line.cost.plus(cost);
    else lines.set(key, { row, cost });
  }
  return [...lines.values()];
}

// Code-unit order, not localeCompare: the bytes must not depend on the machine's locale.
const cmpText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function sortLines(lines: Line[]): { lines: Line[]; total: Decimal } {
  const serviceTotals = new Map<string, Decimal>();
  let total = new Money(0);
  for (const { row, cost } of lines) {
    serviceTotals.set(row.service, (serviceTotals.get(row.service) ?? new Money(0)).plus(cost));
    total = total.plus(cost);
  }
  const sorted = [...lines].sort(
    (a, b) =>
      serviceTotals.get(b.row.service)!.cmp(serviceTotals.get(a.row.service)!) ||
      // Service name before resource cost keeps each service's rows together when totals tie.
      cmpText(a.row.service, b.row.service) ||
      b.cost.cmp(a.cost) ||
      cmpText(a.row.resourceName, b.row.resourceName) ||
      cmpText(a.row.region, b.row.region),
  );
  return { lines: sorted, total };
}

export function buildCostCsvBefore(rows: Iterable<CostRow>): { csv: string; rowCount: number; total: string } {
  const { lines, total } = sortLines(aggregate(rows));
  // Cost is not neutralised: it is a validated plain decimal, so a leading "-" is a credit, not a
  // formula, and must stay numeric for the spreadsheet.
  const records = lines.map(({ row, cost }) => [
    neutraliseCellBefore(row.resourceName),
    neutraliseCellBefore(row.service),
    neutraliseCellBefore(row.region),
    formatAmount(cost),
  ]);
  const csv = stringify([CSV_HEADER, ...records], {
    record_delimiter: '\r\n',
    // A custom record_delimiter silently turns off quoting of bare CR/LF; RFC 4180 needs it on.
    quote_record_delimiter: true,
    eof: true,
  });
  return { csv, rowCount: lines.length, total: formatAmount(total) };
}

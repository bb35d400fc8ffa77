import { addAmounts, AmountSum, canonicalAmount, checkAmount, fromUnits, scaleOf, toUnits } from './money';
import type { CostRow } from './schemas';

export const CSV_HEADER = ['Resource Name', 'Service', 'Region', 'Cost'];

// OWASP's formula triggers plus | and %, and the full-width forms some spreadsheets normalise.
const FORMULA_TRIGGERS = '=+-@|%\t\r\uFF1D\uFF0B\uFF0D\uFF20';
// The check runs for every cell of the report: a table for ASCII, a search for the rest.
const ASCII_TRIGGER = new Uint8Array(128);
for (const c of FORMULA_TRIGGERS) if (c.charCodeAt(0) < 128) ASCII_TRIGGER[c.charCodeAt(0)] = 1;

function needsGuard(s: string): boolean {
  const c = s.charCodeAt(0);
  return c < 128 ? ASCII_TRIGGER[c] === 1 : s.length > 0 && FORMULA_TRIGGERS.includes(s[0]!);
}

export function neutraliseCell(s: string): string {
  return needsGuard(s) ? `'${s}` : s;
}

// Output chunks of this many bytes: big enough to amortise each hash update and socket write,
// small enough that neither pass of the upload holds more than a sliver of the file.
const CHUNK_BYTES = 64 * 1024;
// Worst case UTF-8 bytes per UTF-16 code unit in a cell: 3 (a doubled quote takes 2).
const MAX_BYTES_PER_UNIT = 3;

/**
 * Writes `s` as UTF-8 into `buf` at `pos` and returns the end. Unquoted, it stops at the first
 * character that needs quoting and returns -1. Lone surrogates become U+FFFD, as Node's UTF-8
 * encoder writes them. The caller guarantees room for MAX_BYTES_PER_UNIT per code unit.
 */
function encodeInto(buf: Uint8Array, pos: number, s: string, quoted: boolean): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0x22 || c === 0x2c || c === 0x0d || c === 0x0a) {
        if (!quoted) return -1;
        if (c === 0x22) buf[pos++] = 0x22;
      }
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = c <= 0xdbff && i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        buf[pos++] = 0xf0 | (cp >> 18);
        buf[pos++] = 0x80 | ((cp >> 12) & 0x3f);
        buf[pos++] = 0x80 | ((cp >> 6) & 0x3f);
        buf[pos++] = 0x80 | (cp & 0x3f);
        i++;
      } else {
        buf[pos++] = 0xef;
        buf[pos++] = 0xbf;
        buf[pos++] = 0xbd;
      }
    } else {
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos;
}

/** csvCell(s) written as UTF-8 at `pos`; returns the end. Room: cellRoom(s). */
function writeCell(buf: Uint8Array, pos: number, s: string): number {
  const guard = needsGuard(s);
  let at = pos;
  if (guard) buf[at++] = 0x27;
  const end = encodeInto(buf, at, s, false);
  if (end >= 0) return end;
  at = pos;
  buf[at++] = 0x22;
  if (guard) buf[at++] = 0x27;
  at = encodeInto(buf, at, s, true);
  buf[at++] = 0x22;
  return at;
}

const cellRoom = (s: string) => s.length * MAX_BYTES_PER_UNIT + 3;

function encodeCell(s: string): Uint8Array {
  const buf = new Uint8Array(cellRoom(s));
  return buf.subarray(0, writeCell(buf, 0, s));
}

const HEADER_BYTES = new TextEncoder().encode(`${CSV_HEADER.join(',')}\r\n`);

interface Line {
  resourceName: string;
  region: string;
  /** Canonical amount string (money.canonicalAmount). */
  cost: string;
  /** Sign and integer digits of `cost` (-3 for "-123.4"). */
  magnitude: number;
  /** The first PREFIX_DIGITS digits of `cost` as an integer, negated for a credit. */
  prefix: number;
  /** The exact sum while a key repeats, as units of 10^-sumScale; null for a single row. */
  sum: bigint | null;
  sumScale: number;
  /** The line of the same resource name and service in another region, if any. */
  otherRegion: Line | null;
}

// Nine digits stay a small integer in V8, so the sort compares two ints before any text.
const PREFIX_DIGITS = 9;

function setOrderKeys(l: Line): void {
  const cost = l.cost;
  const neg = cost.charCodeAt(0) === 45;
  let dot = cost.indexOf('.');
  if (dot < 0) dot = cost.length;
  l.magnitude = neg ? 1 - dot : dot;
  let prefix = 0;
  let digits = 0;
  for (let i = neg ? 1 : 0; i < cost.length && digits < PREFIX_DIGITS; i++) {
    const c = cost.charCodeAt(i);
    if (c === 46) continue;
    prefix = prefix * 10 + (c - 48);
    digits++;
  }
  for (; digits < PREFIX_DIGITS; digits++) prefix *= 10;
  l.prefix = neg ? -prefix : prefix;
}

function newLine(resourceName: string, region: string, cost: string): Line {
  const l: Line = { resourceName, region, cost: canonicalAmount(cost), magnitude: 0, prefix: 0, sum: null, sumScale: 0, otherRegion: null };
  setOrderKeys(l);
  return l;
}

interface ServiceGroup {
  name: string;
  /** Resource name -> its line (lines in other regions chained from it). */
  byResource: Map<string, Line>;
  lines: Line[];
  sum: AmountSum;
  total: bigint;
  sorted: boolean;
}

// Code-unit order, not localeCompare: the bytes must not depend on the machine's locale.
const cmpText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
// Service total descending; the name breaks ties so each service's rows stay together.
const cmpServices = (a: { name: string; total: bigint }, b: { name: string; total: bigint }) =>
  (a.total < b.total ? 1 : a.total > b.total ? -1 : cmpText(a.name, b.name));

/**
 * Exact numeric order of two lines' canonical amounts without parsing them: magnitude (sign and
 * integer digits) first, then the leading digits as an integer; only when both tie, the text,
 * which orders canonical amounts (no leading or trailing zeros) of equal magnitude, reversed for
 * credits.
 */
function cmpCost(a: Line, b: Line): number {
  if (a.magnitude !== b.magnitude) return a.magnitude - b.magnitude;
  if (a.prefix !== b.prefix) return a.prefix - b.prefix;
  const t = cmpText(a.cost, b.cost);
  return a.magnitude < 0 ? -t : t;
}
// Within a service: cost descending, then resource name, then region.
const cmpLines = (a: Line, b: Line) => cmpCost(b, a) || cmpText(a.resourceName, b.resourceName) || cmpText(a.region, b.region);

/** A finished report: its size and exact total, and its CSV bytes on demand. */
export interface CostReport {
  rowCount: number;
  /** Exact, canonical. */
  total: string;
  /**
   * The CSV as UTF-8, in order, in chunks of about 64 KiB that the caller may keep. Every call
   * yields the same bytes, so one pass can hash them and another upload them without the file
   * ever being held whole.
   */
  chunks(): Generator<Uint8Array>;
}

/**
 * Aggregates cost rows per (resource, service, region) as they arrive, page by page, then orders
 * them (service total descending, service name, resource cost descending, resource name, region)
 * and writes RFC 4180 CSV with the formula guard. Money stays exact: amounts are canonical decimal
 * strings, summed by digit columns (AmountSum) or as BigInt, never as floating point.
 */
export class CostReportBuilder {
  private readonly services = new Map<string, ServiceGroup>();
  private rowCount = 0;

  add(rows: Iterable<CostRow>): void {
    for (const row of rows) {
      const cost = row.cost;
      checkAmount(cost);
      let group = this.services.get(row.service);
      if (!group) {
        group = { name: row.service, byResource: new Map(), lines: [], sum: new AmountSum(), total: 0n, sorted: false };
        this.services.set(row.service, group);
      }
      group.sum.add(cost);
      const first = group.byResource.get(row.resourceName);
      let line: Line | null | undefined = first;
      while (line && line.region !== row.region) line = line.otherRegion;
      if (line) {
        addToLine(line, cost);
      } else {
        const added = newLine(row.resourceName, row.region, cost);
        if (first) {
          added.otherRegion = first.otherRegion;
          first.otherRegion = added;
        } else {
          group.byResource.set(row.resourceName, added);
        }
        group.lines.push(added);
        this.rowCount++;
      }
    }
  }

  /** Totals and the order of services; each service's lines are sorted as the CSV is first written. */
  finish(): CostReport {
    const groups = [...this.services.values()];
    const scale = Math.max(0, ...groups.map((g) => g.sum.scale));
    let total = 0n;
    for (const g of groups) {
      g.total = g.sum.units(scale);
      total += g.total;
      // The map was only for aggregation; the lines carry all that is left.
      g.byResource.clear();
      for (const l of g.lines) {
        l.otherRegion = null;
        if (l.sum === null) continue;
        l.cost = fromUnits(l.sum, l.sumScale);
        setOrderKeys(l);
        l.sum = null;
      }
    }
    groups.sort(cmpServices);
    return { rowCount: this.rowCount, total: fromUnits(total, scale), chunks: () => writeChunks(groups) };
  }
}

function addToLine(line: Line, cost: string): void {
  if (line.sum === null) {
    line.sumScale = scaleOf(line.cost);
    line.sum = toUnits(line.cost, line.sumScale);
  }
  const scale = scaleOf(cost);
  if (scale > line.sumScale) {
    line.sum *= 10n ** BigInt(scale - line.sumScale);
    line.sumScale = scale;
  }
  line.sum += toUnits(cost, line.sumScale);
}

function* writeChunks(groups: ServiceGroup[]): Generator<Uint8Array> {
  let buf = new Uint8Array(CHUNK_BYTES);
  buf.set(HEADER_BYTES);
  let pos = HEADER_BYTES.length;
  const regionCells = new Map<string, Uint8Array>();
  for (const g of groups) {
    if (!g.sorted) {
      g.lines.sort(cmpLines);
      g.sorted = true;
    }
    const service = encodeCell(g.name);
    const regions = g.lines.map((l) => regionCell(l.region, regionCells));
    for (let next = 0; next < g.lines.length; next = stoppedAt) {
      pos = writeLines(buf, pos, g.lines, regions, next, service);
      if (stoppedAt < g.lines.length) {
        yield buf.subarray(0, pos);
        buf = new Uint8Array(Math.max(CHUNK_BYTES, lineRoom(g.lines[stoppedAt]!, service, regions[stoppedAt]!)));
        pos = 0;
      }
    }
  }
  if (pos > 0) yield buf.subarray(0, pos);
}

function regionCell(region: string, cells: Map<string, Uint8Array>): Uint8Array {
  let cell = cells.get(region);
  if (cell === undefined) cells.set(region, (cell = encodeCell(region)));
  return cell;
}

const lineRoom = (l: Line, service: Uint8Array, region: Uint8Array) =>
  cellRoom(l.resourceName) + service.length + region.length + l.cost.length + 5;

// Where writeLines stopped. A module variable rather than a property: the code after its loop
// first runs when a chunk fills, and a property store there sends V8's optimised loop back to
// the interpreter at every chunk.
let stoppedAt = 0;

/** Writes lines from `from` on while they fit in `buf`; returns the end, sets stoppedAt. */
function writeLines(buf: Uint8Array, pos: number, lines: Line[], regions: Uint8Array[], from: number, service: Uint8Array): number {
  let i = from;
  for (; i < lines.length; i++) {
    const l = lines[i]!;
    const region = regions[i]!;
    const cost = l.cost;
    if (pos + lineRoom(l, service, region) > buf.length) break;
    pos = writeCell(buf, pos, l.resourceName);
    buf[pos++] = 0x2c;
    for (let k = 0; k < service.length; k++) buf[pos++] = service[k]!;
    buf[pos++] = 0x2c;
    for (let k = 0; k < region.length; k++) buf[pos++] = region[k]!;
    buf[pos++] = 0x2c;
    // Cost is not neutralised: it is a checked plain decimal (ASCII), so a leading "-" is a
    // credit, not a formula, and must stay numeric for the spreadsheet.
    for (let k = 0; k < cost.length; k++) buf[pos++] = cost.charCodeAt(k);
    buf[pos++] = 0x0d;
    buf[pos++] = 0x0a;
  }
  stoppedAt = i;
  return pos;
}

/** Sums rows with the same (resource, service, region), in order of first appearance. */
export function aggregateRows(rows: Iterable<CostRow>): CostRow[] {
  const lines = new Map<string, CostRow>();
  for (const row of rows) {
    checkAmount(row.cost);
    // A JSON array key cannot collide, whatever the names contain.
    const key = JSON.stringify([row.service, row.region, row.resourceName]);
    const line = lines.get(key);
    if (line) line.cost = addAmounts(line.cost, row.cost);
    else lines.set(key, { ...row, cost: canonicalAmount(row.cost) });
  }
  return [...lines.values()];
}

/** The contract's order: service total descending, then resource cost descending; ties by name. */
export function sortRows(rows: CostRow[]): CostRow[] {
  const groups = new Map<string, { name: string; sum: AmountSum; total: bigint; rows: { row: CostRow; line: Line }[] }>();
  for (const row of rows) {
    checkAmount(row.cost);
    let g = groups.get(row.service);
    if (!g) groups.set(row.service, (g = { name: row.service, sum: new AmountSum(), total: 0n, rows: [] }));
    g.sum.add(row.cost);
    g.rows.push({ row, line: newLine(row.resourceName, row.region, row.cost) });
  }
  const scale = Math.max(0, ...[...groups.values()].map((g) => g.sum.scale));
  for (const g of groups.values()) g.total = g.sum.units(scale);
  return [...groups.values()].sort(cmpServices)
    .flatMap((g) => g.rows.sort((a, b) => cmpLines(a.line, b.line)).map((r) => r.row));
}

/** The whole CSV in memory, for callers that want a string (the one-off `report` command). */
export function buildCostCsv(rows: Iterable<CostRow>): { csv: string; rowCount: number; total: string } {
  const builder = new CostReportBuilder();
  builder.add(rows);
  const report = builder.finish();
  return { csv: Buffer.concat([...report.chunks()]).toString('utf8'), rowCount: report.rowCount, total: report.total };
}

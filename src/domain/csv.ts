import { AmountSum, canonicalAmount, checkAmount, compareCanonical, fromUnits, scaleOf, toUnits } from './money';
import type { CostRow } from './schemas';

export const CSV_HEADER = ['Resource Name', 'Service', 'Region', 'Cost'];

// OWASP's formula triggers plus | and %, and the full-width forms some spreadsheets normalise.
const FORMULA_TRIGGERS = '=+-@|%\uFF1D\uFF0B\uFF0D\uFF20\uFF5C\uFF05';
// What a spreadsheet may skip before it reads a formula: whitespace, control characters and
// invisible ones (zero-width space, BOM, bidi marks...).
const INVISIBLE_LEAD = /^[\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]*/u;
// The check runs for every cell of the report: printable ASCII is decided by a table, filled once
// here and only read afterwards.
const ASCII_TRIGGER = (() => {
  const table = new Uint8Array(128);
  for (const c of FORMULA_TRIGGERS) if (c.charCodeAt(0) < 128) table[c.charCodeAt(0)] = 1;
  return table;
})();

function needsGuard(s: string): boolean {
  const c = s.charCodeAt(0);
  if (c > 0x20 && c < 0x7f) return ASCII_TRIGGER[c] === 1;
  // A leading tab or CR is a trigger in itself (OWASP).
  if (c === 0x09 || c === 0x0d) return true;
  const lead = INVISIBLE_LEAD.exec(s)![0].length;
  return lead < s.length && FORMULA_TRIGGERS.includes(s[lead]!);
}

export function neutraliseCell(s: string): string {
  return needsGuard(s) ? `'${s}` : s;
}

// Output chunks of this many bytes: big enough to amortise each hash update and socket write,
// small enough that neither pass of the upload holds more than a sliver of the file.
const CHUNK_BYTES = 64 * 1024;
// Worst case UTF-8 bytes per UTF-16 code unit in a cell: 3 (a doubled quote takes 2).
const MAX_BYTES_PER_UNIT = 3;

// The characters that make RFC 4180 quote a field: " , CR LF.
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * The cell, formula-guarded and quoted as RFC 4180 needs, written as UTF-8 at `pos` by Node's
 * encoder (a lone surrogate becomes U+FFFD); returns the end. Room: cellRoom(s).
 */
function writeCell(buf: Buffer, pos: number, s: string): number {
  const guard = needsGuard(s);
  let at = pos;
  if (!NEEDS_QUOTES.test(s)) {
    if (guard) buf[at++] = 0x27;
    return at + buf.write(s, at, 'utf8');
  }
  buf[at++] = 0x22;
  if (guard) buf[at++] = 0x27;
  at += buf.write(s.replaceAll('"', '""'), at, 'utf8');
  buf[at++] = 0x22;
  return at;
}

const cellRoom = (s: string) => s.length * MAX_BYTES_PER_UNIT + 3;

function encodeCell(s: string): Buffer {
  const buf = Buffer.allocUnsafe(cellRoom(s));
  return buf.subarray(0, writeCell(buf, 0, s));
}

const HEADER_BYTES = new TextEncoder().encode(`${CSV_HEADER.join(',')}\r\n`);

// Code-unit order, not localeCompare: the bytes must not depend on the machine's locale.
const cmpText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
// Service total descending; the name breaks ties so each service's rows stay together.
const cmpServices = (a: { name: string; total: bigint }, b: { name: string; total: bigint }) =>
  a.total < b.total ? 1 : a.total > b.total ? -1 : cmpText(a.name, b.name);

/**
 * A service's resource names -> each one's first line: an open-addressing table in a typed array,
 * keyed by a hash computed here. This lookup is most of the aggregation's cost, and a Map made it
 * about half as costly again: it hashes each new name in a runtime call, and its probes and its
 * growth read other names' strings from all over the heap, where this table keeps each slot's hash
 * beside its line and reads a name only when the hashes match.
 */
class NameIndex {
  /** Two words per slot, side by side so that a probe reads one cache line: the hash, then line + 1 (0: empty). */
  private slots = new Int32Array(2 * 64);
  private size = 0;

  /**
   * @param names the lines' names, by line
   * @param seed mixed into every hash: random per builder, so that crafted names cannot choose
   *   to collide and make the table slow
   */
  constructor(
    private readonly names: string[],
    private readonly seed: number,
  ) {}

  /** The first line named `name`; if there is none, `line` becomes it (the caller then adds it). */
  firstLine(name: string, line: number): number {
    // Two UTF-16 code units per step: half the multiplications.
    let h = this.seed ^ name.length;
    let i = 1;
    for (; i < name.length; i += 2)
      h = Math.imul(h ^ (name.charCodeAt(i - 1) | (name.charCodeAt(i) << 16)), 0x5bd1e995);
    if (i === name.length) h = Math.imul(h ^ name.charCodeAt(i - 1), 0x5bd1e995);
    h ^= h >>> 15;
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    let at = 2 * (h & mask);
    for (let found = slots[at + 1]!; found !== 0; found = slots[at + 1]!) {
      if (slots[at] === h && this.names[found - 1] === name) return found - 1;
      at = (at + 2) & (2 * mask + 1);
    }
    slots[at] = h;
    slots[at + 1] = line + 1;
    // At most half full, so probes stay short.
    if (++this.size * 4 > slots.length) this.grow();
    return line;
  }

  /** Frees the table. */
  clear(): void {
    this.slots = new Int32Array(2 * 64);
    this.size = 0;
  }

  private grow(): void {
    const old = this.slots;
    const slots = (this.slots = new Int32Array(old.length * 2));
    const mask = (slots.length >> 1) - 1;
    for (let from = 0; from < old.length; from += 2) {
      if (old[from + 1] === 0) continue;
      let at = 2 * (old[from]! & mask);
      while (slots[at + 1] !== 0) at = (at + 2) & (2 * mask + 1);
      slots[at] = old[from]!;
      slots[at + 1] = old[from + 1]!;
    }
  }
}

/** One service's lines, column by column: a JS object per line would cost more than its data. */
interface ServiceGroup {
  name: string;
  /** Resource name -> its first line; lines of the same name in other regions chain from it. */
  byResource: NameIndex;
  otherRegion: Map<number, number>;
  resourceNames: string[];
  /** Each line's region, as an index into regionNames. */
  regions: number[];
  /** The builder's regions, each once: shared by all groups. */
  regionNames: string[];
  /** Canonical amounts (money.canonicalAmount). */
  costs: string[];
  /** sortKey of each cost, taken as the line is added, while its text is still in the CPU cache. */
  keys: number[];
  /** Exact running sums of the lines whose key repeated, in units of 10^-scale. */
  repeated: Map<number, { units: bigint; scale: number }>;
  sum: AmountSum;
  total: bigint;
  /** Line indices in report order, once sorted. */
  order: Uint32Array | null;
}

// Sort key of a canonical amount, as an unsigned 32-bit integer that grows with the amount:
// 10 bits of sign and integer-digit count, then the first 6 significant-position digits (< 2^22).
// Equal keys are rare and are ordered exactly afterwards.
const KEY_DIGITS = 6;
const KEY_DIGIT_SPACE = 1 << 22;
const MAGNITUDE_BIAS = 512;

function sortKey(cost: string): number {
  const n = cost.length;
  const neg = cost.charCodeAt(0) === 45;
  let i = neg ? 1 : 0;
  let intDigits = 0;
  let digits = 0;
  let prefix = 0;
  for (; i < n; i++) {
    const c = cost.charCodeAt(i);
    if (c === 46) break;
    intDigits++;
    if (digits < KEY_DIGITS) {
      prefix = prefix * 10 + (c - 48);
      digits++;
    }
  }
  for (i++; i < n && digits < KEY_DIGITS; i++, digits++) prefix = prefix * 10 + (cost.charCodeAt(i) - 48);
  for (; digits < KEY_DIGITS; digits++) prefix *= 10;
  // Amounts are at most MAX_AMOUNT_LENGTH long, so integer digits stay below the bias.
  return neg
    ? (MAGNITUDE_BIAS - intDigits) * KEY_DIGIT_SPACE + (KEY_DIGIT_SPACE - 1 - prefix)
    : (MAGNITUDE_BIAS + intDigits) * KEY_DIGIT_SPACE + prefix;
}

// sortGroup packs (key, index) into 64-bit integers through a 32-bit view of their memory, and
// which half of a 64-bit integer comes first there is the machine's byte order: read once, at load.
const LOW_WORD = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;
const HIGH_WORD = 1 - LOW_WORD;

/**
 * The lines of a service in report order: cost descending, then resource name, then region. A
 * native numeric sort of (inverted key, index) pairs does nearly all the work; runs with equal
 * keys are then ordered exactly by a comparator.
 */
function sortGroup(g: ServiceGroup): Uint32Array {
  const n = g.costs.length;
  const pairs = new BigUint64Array(n);
  const words = new Uint32Array(pairs.buffer);
  // Each 64-bit pair: low word the index, high word the inverted key.
  for (let i = 0; i < n; i++) {
    words[2 * i + LOW_WORD] = i;
    words[2 * i + HIGH_WORD] = 0xffffffff - g.keys[i]!;
  }
  pairs.sort();
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = words[2 * i + LOW_WORD]!;
  const exact = (a: number, b: number) =>
    compareCanonical(g.costs[b]!, g.costs[a]!) ||
    cmpText(g.resourceNames[a]!, g.resourceNames[b]!) ||
    cmpText(g.regionNames[g.regions[a]!]!, g.regionNames[g.regions[b]!]!);
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && words[2 * end + HIGH_WORD] === words[2 * start + HIGH_WORD]) end++;
    if (end - start > 1) order.subarray(start, end).sort(exact);
    start = end;
  }
  return order;
}

/** A finished report: its size and exact total, and its CSV bytes on demand. */
export interface CostReport {
  rowCount: number;
  /** Exact, canonical. */
  total: string;
  /**
   * The CSV as UTF-8, in order, in chunks of about 64 KiB. Every call yields the same bytes, so
   * one pass can hash them and another upload them without the file ever being held whole. The
   * caller may keep each chunk, unless it asks for `reuse`: then every chunk is the same buffer,
   * overwritten by the next (for a pass that only reads each chunk once, like hashing).
   */
  chunks(opts?: { reuse?: boolean }): Generator<Uint8Array>;
  /** The `n` costliest lines (report order breaks ties), leaving out those `skip` names. */
  topLines(n: number, skip?: (resourceName: string) => boolean): CostRow[];
  /** Every line, in the order chunks() writes them. */
  lines(): Generator<CostRow>;
}

/**
 * Aggregates cost rows per (resource, service, region) as they arrive, page by page, then orders
 * them (service total descending, service name, resource cost descending, resource name, region)
 * and writes RFC 4180 CSV with the formula guard. Money stays exact: amounts are canonical decimal
 * strings, summed by digit columns (AmountSum) or as BigInt, never as floating point.
 */
export class CostReportBuilder {
  private readonly services = new Map<string, ServiceGroup>();
  /** Region -> its index in regionNames: a line stores the index, and the writer finds its bytes by it. */
  private readonly regionIds = new Map<string, number>();
  private readonly regionNames: string[] = [];
  private readonly seed = (Math.random() * 2 ** 32) | 0;
  private rowCount = 0;

  add(rows: Iterable<CostRow>): void {
    for (const row of rows) this.addRow(row);
  }

  // A method of its own rather than the loop's body: V8 compiles it once, as a function, instead of
  // also compiling the whole body again for the loop already running (on-stack replacement), work
  // that competes with the build itself for the CPU.
  private addRow(row: CostRow): void {
    const cost = row.cost;
    let g = this.services.get(row.service);
    if (!g) {
      // g.sum.add checks the amount of every row; this one first, so a bad row adds no service.
      checkAmount(cost);
      const resourceNames: string[] = [];
      g = {
        name: row.service,
        byResource: new NameIndex(resourceNames, this.seed),
        otherRegion: new Map(),
        resourceNames,
        regions: [],
        regionNames: this.regionNames,
        costs: [],
        keys: [],
        repeated: new Map(),
        sum: new AmountSum(),
        total: 0n,
        order: null,
      };
      this.services.set(row.service, g);
    }
    const canonical = g.sum.add(cost);
    let region = this.regionIds.get(row.region);
    if (region === undefined) {
      region = this.regionNames.length;
      this.regionIds.set(row.region, region);
      this.regionNames.push(row.region);
    }
    const added = g.costs.length;
    const first = g.byResource.firstLine(row.resourceName, added);
    if (first !== added) {
      let line: number | undefined = first;
      while (line !== undefined && g.regions[line] !== region) line = g.otherRegion.get(line);
      if (line !== undefined) {
        addRepeated(g, line, cost);
        return;
      }
      const after = g.otherRegion.get(first);
      if (after !== undefined) g.otherRegion.set(added, after);
      g.otherRegion.set(first, added);
    }
    g.resourceNames.push(row.resourceName);
    g.regions.push(region);
    const amount = canonical ? cost : canonicalAmount(cost);
    g.costs.push(amount);
    g.keys.push(sortKey(amount));
    this.rowCount++;
  }

  /** Totals and the order of services; each service's lines are sorted as the CSV is first written. */
  finish(): CostReport {
    const groups = [...this.services.values()];
    const scale = Math.max(0, ...groups.map((g) => g.sum.scale));
    let total = 0n;
    for (const g of groups) {
      g.total = g.sum.units(scale);
      total += g.total;
      for (const [line, { units, scale: s }] of g.repeated) {
        g.costs[line] = fromUnits(units, s);
        g.keys[line] = sortKey(g.costs[line]);
      }
      // The index and maps were only for aggregation.
      g.byResource.clear();
      g.otherRegion.clear();
      g.repeated.clear();
    }
    groups.sort(cmpServices);
    return {
      rowCount: this.rowCount,
      total: fromUnits(total, scale),
      chunks: (opts) => writeChunks(groups, opts?.reuse ?? false),
      topLines: (n, skip) => topLines(groups, n, skip),
      lines: () => lines(groups),
    };
  }
}

function addRepeated(g: ServiceGroup, line: number, cost: string): void {
  let acc = g.repeated.get(line);
  if (!acc) {
    const first = g.costs[line]!;
    g.repeated.set(line, (acc = { units: toUnits(first, scaleOf(first)), scale: scaleOf(first) }));
  }
  const scale = scaleOf(cost);
  if (scale > acc.scale) {
    acc.units *= 10n ** BigInt(scale - acc.scale);
    acc.scale = scale;
  }
  acc.units += toUnits(cost, acc.scale);
}

function* lines(groups: ServiceGroup[]): Generator<CostRow> {
  for (const g of groups) {
    g.order ??= sortGroup(g);
    for (const line of g.order)
      yield {
        resourceName: g.resourceNames[line]!,
        service: g.name,
        region: g.regionNames[g.regions[line]!]!,
        cost: g.costs[line]!,
      };
  }
}

/** Each service's lines are in cost order, so the top `n` overall are among each one's first `n`. */
function topLines(groups: ServiceGroup[], n: number, skip?: (resourceName: string) => boolean): CostRow[] {
  const top: CostRow[] = [];
  for (const g of groups) {
    g.order ??= sortGroup(g);
    let taken = 0;
    for (let i = 0; i < g.order.length && taken < n; i++) {
      const line = g.order[i]!;
      if (skip?.(g.resourceNames[line]!)) continue;
      top.push({
        resourceName: g.resourceNames[line]!,
        service: g.name,
        region: g.regionNames[g.regions[line]!]!,
        cost: g.costs[line]!,
      });
      taken++;
    }
  }
  // A stable sort keeps report order among equal costs.
  return top.sort((a, b) => compareCanonical(b.cost, a.cost)).slice(0, n);
}

/** The chunk being filled: its buffer and the end of what it holds. */
interface Chunk {
  buf: Buffer;
  pos: number;
}

function* writeChunks(groups: ServiceGroup[], reuse: boolean): Generator<Uint8Array> {
  const chunk: Chunk = { buf: Buffer.allocUnsafeSlow(CHUNK_BYTES), pos: HEADER_BYTES.length };
  chunk.buf.set(HEADER_BYTES);
  const regionCells: Buffer[] = [];
  for (const g of groups) {
    g.order ??= sortGroup(g);
    const middles = new Middles(g, encodeCell(g.name), regionCells);
    for (
      let next = writeLines(chunk, g, 0, middles);
      next < g.order.length;
      next = writeLines(chunk, g, next, middles)
    ) {
      yield chunk.buf.subarray(0, chunk.pos);
      const line = g.order[next]!;
      const room = Math.max(
        CHUNK_BYTES,
        cellRoom(g.resourceNames[line]!) + middles.of(g.regions[line]!).length + g.costs[line]!.length + 2,
      );
      if (!reuse || room > chunk.buf.length) chunk.buf = Buffer.allocUnsafeSlow(room);
      chunk.pos = 0;
    }
  }
  if (chunk.pos > 0) yield chunk.buf.subarray(0, chunk.pos);
}

/** A service's `,service,region,` bytes for each region: what every line has between its name and its cost. */
class Middles {
  /** By region index. */
  private readonly byRegion: Buffer[] = [];
  constructor(
    private readonly g: ServiceGroup,
    private readonly service: Buffer,
    /** Each region's cell, by region index, shared by the services. */
    private readonly regionCells: Buffer[],
  ) {}

  of(region: number): Buffer {
    return (this.byRegion[region] ??= Buffer.concat([
      COMMA,
      this.service,
      COMMA,
      (this.regionCells[region] ??= encodeCell(this.g.regionNames[region]!)),
      COMMA,
    ]));
  }
}

const COMMA = Buffer.from(',');

/** Writes the group's lines from `from` (in report order) while they fit in the chunk; returns where it stopped. */
function writeLines(chunk: Chunk, g: ServiceGroup, from: number, middles: Middles): number {
  const order = g.order!;
  const buf = chunk.buf;
  let pos = chunk.pos;
  let i = from;
  for (; i < order.length; i++) {
    const line = order[i]!;
    const name = g.resourceNames[line]!;
    const middle = middles.of(g.regions[line]!);
    const cost = g.costs[line]!;
    if (pos + cellRoom(name) + middle.length + cost.length + 2 > buf.length) break;
    pos = writeCell(buf, pos, name);
    // A native copy: measured cheaper than a loop over these few dozen bytes.
    buf.set(middle, pos);
    pos += middle.length;
    // Cost is not neutralised: it is a checked plain decimal (ASCII), so a leading "-" is a
    // credit, not a formula, and must stay numeric for the spreadsheet.
    // ASCII too, and a dozen bytes: a loop costs less than a native write call.
    for (let k = 0; k < cost.length; k++) buf[pos++] = cost.charCodeAt(k);
    buf[pos++] = 0x0d;
    buf[pos++] = 0x0a;
    // Stored in the loop, not once after it: V8 compiles this loop while it runs, before any code
    // after it has run, and a store there would send the compiled loop back to the interpreter
    // at every chunk.
    chunk.pos = pos;
  }
  return i;
}

/** The whole CSV in memory, for callers that want a string (the one-off `report` command). */
export function buildCostCsv(rows: Iterable<CostRow>): { csv: string; rowCount: number; total: string } {
  const builder = new CostReportBuilder();
  builder.add(rows);
  const report = builder.finish();
  return { csv: Buffer.concat([...report.chunks()]).toString('utf8'), rowCount: report.rowCount, total: report.total };
}

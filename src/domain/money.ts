import Decimal from 'decimal.js';

// Precision far above any realistic sum so arithmetic never rounds; the exponent limits keep
// toString() in plain notation too (formatAmount uses toFixed(), which never uses exponents).
export const Money = Decimal.clone({
  precision: 1000,
  rounding: Decimal.ROUND_HALF_EVEN,
  toExpNeg: -9e15,
  toExpPos: 9e15,
});

// What Cost Explorer sends, nothing else: the shape of schemas.DecimalString, /^-?\d+(\.\d+)?$/.
// Cost Explorer amounts are short; the bound keeps hostile input cheap.
const MAX_AMOUNT_LENGTH = 256;
const ZERO_CODE = 48;
const POINT_CODE = 46;

/**
 * For a string of that shape and at most MAX_AMOUNT_LENGTH characters, the index of its point
 * (its length when it has none); otherwise -1. A scan, not the regular expression: the report
 * build checks every row, and a regex call costs more than the digits.
 */
function pointOf(s: string): number {
  const n = s.length;
  if (n > MAX_AMOUNT_LENGTH) return -1;
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  const intStart = i;
  let c = 0;
  while (i < n && (c = s.charCodeAt(i) - ZERO_CODE) >= 0 && c <= 9) i++;
  if (i === intStart) return -1;
  if (i === n) return n;
  if (c !== POINT_CODE - ZERO_CODE) return -1;
  const point = i++;
  while (i < n && (c = s.charCodeAt(i) - ZERO_CODE) >= 0 && c <= 9) i++;
  return i === n && i > point + 1 ? point : -1;
}

/** Throws unless `s` is a plain decimal string of bounded length. */
export function checkAmount(s: string): void {
  if (typeof s !== 'string' || pointOf(s) < 0) {
    const shown = typeof s === 'string' && s.length > 40 ? `${s.slice(0, 40)}…` : String(s);
    throw new Error(`invalid amount ${JSON.stringify(shown)}: expected a plain decimal string like "-1.25"`);
  }
}

export function parseAmount(s: string): Decimal {
  checkAmount(s);
  return new Money(s);
}

export function sumAmounts(amounts: Iterable<string | Decimal>): Decimal {
  let sum = new Money(0);
  for (const a of amounts) sum = sum.plus(typeof a === 'string' ? parseAmount(a) : a);
  return sum;
}

/** Exact and canonical: "1.50" -> "1.5", "007" -> "7", "-0" -> "0"; never exponent notation. */
export function formatAmount(d: Decimal): string {
  if (!d.isFinite()) throw new Error(`cannot format non-finite amount ${d.toString()}`);
  return d.isZero() ? '0' : d.toFixed();
}

/** Validates a plain decimal string and returns it in formatAmount form. */
export const normaliseAmount = (s: string): string => formatAmount(parseAmount(s));

/** The event's legacy numeric `totalCost`, rounded to cents; the exact value travels as a string. */
export function toReportNumber(d: Decimal): number {
  if (!d.isFinite()) throw new Error(`cannot report non-finite amount ${d.toString()}`);
  const n = Number(new Money(d).toDecimalPlaces(2, Money.ROUND_HALF_EVEN).toFixed(2));
  return n === 0 ? 0 : n;
}

// Exact arithmetic on checked decimal strings for hot loops where a decimal.js object per amount
// costs too much (the report build). Same results as the Money functions above.

/** formatAmount(parseAmount(s)) for a checked amount, without allocating when `s` is canonical. */
export function canonicalAmount(s: string): string {
  const neg = s.charCodeAt(0) === 45;
  let start = neg ? 1 : 0;
  const dot = s.indexOf('.');
  const intEnd = dot < 0 ? s.length : dot;
  while (start < intEnd - 1 && s.charCodeAt(start) === ZERO_CODE) start++;
  let end = s.length;
  if (dot >= 0) {
    while (end > dot + 1 && s.charCodeAt(end - 1) === ZERO_CODE) end--;
    if (end === dot + 1) end = dot;
  }
  if (end === start + 1 && s.charCodeAt(start) === ZERO_CODE) return '0';
  if (start === (neg ? 1 : 0) && end === s.length) return s;
  return (neg ? '-' : '') + s.slice(start, end);
}

const zeros: string[] = [''];
const zerosOf = (n: number) => (zeros[n] ??= '0'.repeat(n));

/** Digits after the point of a checked amount. */
export function scaleOf(s: string): number {
  const dot = s.indexOf('.');
  return dot < 0 ? 0 : s.length - dot - 1;
}

/** A checked amount as an integer count of 10^-scale; scale >= scaleOf(s). */
export function toUnits(s: string, scale: number): bigint {
  const dot = s.indexOf('.');
  if (dot < 0) return BigInt(s + zerosOf(scale));
  return BigInt(s.slice(0, dot) + s.slice(dot + 1) + zerosOf(scale - (s.length - dot - 1)));
}

/** The canonical amount string of units / 10^scale. */
export function fromUnits(units: bigint, scale: number): string {
  const neg = units < 0n;
  let digits = (neg ? -units : units).toString();
  if (scale === 0) return canonicalAmount(neg ? `-${digits}` : digits);
  if (digits.length <= scale) digits = zerosOf(scale - digits.length + 1) + digits;
  const cut = digits.length - scale;
  return canonicalAmount(`${neg ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}`);
}

/**
 * An exact running sum of checked amounts, kept as one integer per decimal digit position:
 * adding an amount adds each of its digits (negated for a credit) to its column, with no
 * allocation. Each column stays within ±9 × the count of amounts added, inside Int32 below
 * MAX_EXACT_ADDS; the columns become one BigInt only when the sum is read.
 */
export class AmountSum {
  static readonly MAX_EXACT_ADDS = Math.floor(0x7fffffff / 9);
  // Column MAX_AMOUNT_LENGTH + e holds the digits of 10^e.
  private readonly columns = new Int32Array(2 * MAX_AMOUNT_LENGTH);
  private low = MAX_AMOUNT_LENGTH;
  private high = MAX_AMOUNT_LENGTH;
  private adds = 0;

  /**
   * Adds an amount, checked as checkAmount does (it throws the same error, and the sum is then
   * unchanged). Returns whether `s` is already canonical (as canonicalAmount writes it), which
   * the scan finds out for free.
   */
  add(s: string): boolean {
    const dot = typeof s === 'string' ? pointOf(s) : -1;
    if (dot < 0) checkAmount(s);
    if (++this.adds > AmountSum.MAX_EXACT_ADDS)
      throw new Error(`more than ${AmountSum.MAX_EXACT_ADDS} amounts in one exact sum`);
    const neg = s.charCodeAt(0) === 45;
    const first = neg ? 1 : 0;
    let column = MAX_AMOUNT_LENGTH + dot - first - 1;
    if (column >= this.high) this.high = column + 1;
    const cols = this.columns;
    const sign = neg ? -1 : 1;
    let digits = 0;
    // Two loops, either side of the point: no test for it per digit.
    for (let i = first; i < dot; i++) {
      const d = s.charCodeAt(i) - ZERO_CODE;
      digits |= d;
      cols[column--]! += sign * d;
    }
    for (let i = dot + 1; i < s.length; i++) {
      const d = s.charCodeAt(i) - ZERO_CODE;
      digits |= d;
      cols[column--]! += sign * d;
    }
    if (column + 1 < this.low) this.low = column + 1;
    const leadingZero = dot - first > 1 && s.charCodeAt(first) === ZERO_CODE;
    const trailingZero = dot < s.length && s.charCodeAt(s.length - 1) === ZERO_CODE;
    return !leadingZero && !trailingZero && !(neg && digits === 0);
  }

  /** Digits after the point that the sum may have. */
  get scale(): number {
    return MAX_AMOUNT_LENGTH - this.low;
  }

  /** The sum as an integer count of 10^-scale; scale >= this.scale. */
  units(scale = this.scale): bigint {
    let units = 0n;
    for (let i = this.high - 1; i >= this.low; i--) units = units * 10n + BigInt(this.columns[i]!);
    return units * 10n ** BigInt(scale - this.scale);
  }

  toString(): string {
    return fromUnits(this.units(), this.scale);
  }
}

/**
 * Numeric order of two canonical amounts by their text alone: a credit is below any non-negative
 * amount; with equal signs, more integer digits means a larger magnitude, and with equal integer
 * digits canonical text (no leading or trailing zeros) orders as the magnitudes do.
 */
export function compareCanonical(a: string, b: string): number {
  const aNeg = a.charCodeAt(0) === 45;
  if (aNeg !== (b.charCodeAt(0) === 45)) return aNeg ? -1 : 1;
  let aInt = a.indexOf('.');
  if (aInt < 0) aInt = a.length;
  let bInt = b.indexOf('.');
  if (bInt < 0) bInt = b.length;
  const magnitude = aInt !== bInt ? aInt - bInt : a < b ? -1 : a > b ? 1 : 0;
  return aNeg ? -magnitude : magnitude;
}

/** Exact sum of two checked amounts, canonical. */
export function addAmounts(a: string, b: string): string {
  const scale = Math.max(scaleOf(a), scaleOf(b));
  return fromUnits(toUnits(a, scale) + toUnits(b, scale), scale);
}

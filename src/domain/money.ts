import Decimal from 'decimal.js';

// Precision far above any realistic sum so arithmetic never rounds; the exponent limits keep
// toString() in plain notation too (formatAmount uses toFixed(), which never uses exponents).
export const Money = Decimal.clone({
  precision: 1000,
  rounding: Decimal.ROUND_HALF_EVEN,
  toExpNeg: -9e15,
  toExpPos: 9e15,
});

// Same shape as schemas.DecimalString: what Cost Explorer sends, nothing else.
const PLAIN_DECIMAL = /^-?\d+(\.\d+)?$/;
// Cost Explorer amounts are short; the bound keeps hostile input cheap.
const MAX_AMOUNT_LENGTH = 256;

export function parseAmount(s: string): Decimal {
  if (typeof s !== 'string' || s.length > MAX_AMOUNT_LENGTH || !PLAIN_DECIMAL.test(s)) {
    const shown = typeof s === 'string' && s.length > 40 ? `${s.slice(0, 40)}…` : String(s);
    throw new Error(`invalid amount ${JSON.stringify(shown)}: expected a plain decimal string like "-1.25"`);
  }
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

// The cost records, indexed by account, and their grouping into the periods and groups a query
// asks for.
import Decimal from 'decimal.js';
import { fmtDay, firstDayOfMonth, monthOfDay, parseDay } from './days';
import { COST_METRICS, dimValue, type ParsedQuery } from './query';

// Sums must stay exact however many amounts are added.
const Dec = Decimal.clone({ precision: 1000, rounding: Decimal.ROUND_HALF_EVEN });
type Dec = InstanceType<typeof Dec>;

/**
 * Cost Explorer's RECORD_TYPE values (its CUR line item types; docs/cost-explorer.md#record-types).
 * What each one holds in UnblendedCost and AmortizedCost, as AWS documents it:
 * - `Usage`: on-demand usage; amortized equals unblended.
 * - `SavingsPlanCoveredUsage`: usage a Savings Plan covers, unblended at the on-demand price,
 *   amortized at the plan's effective cost; a `SavingsPlanNegation` beside it (unblended the
 *   negative on-demand cost, amortized zero) takes the on-demand price off the bill.
 * - `SavingsPlanRecurringFee`: the plan's fee; amortized, only its unused part.
 * - `DiscountedUsage`: usage a Reserved Instance covers, unblended zero (the reservation bills as
 *   `RIFee`), amortized at its effective cost. `RIFee`: amortized, only the unused part.
 * - `Fee`, `Tax`, `Support`, `Credit`, `Refund`: amortized equals unblended here.
 */
export const RECORD_TYPES = [
  'Usage',
  'DiscountedUsage',
  'RIFee',
  'SavingsPlanCoveredUsage',
  'SavingsPlanNegation',
  'SavingsPlanRecurringFee',
  'Fee',
  'Tax',
  'Support',
  'Credit',
  'Refund',
] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

export interface FakeCostItem {
  accountId: string;
  /** YYYY-MM-DD (UTC usage day) */
  date: string;
  service: string;
  resourceId: string;
  region: string;
  /** Plain decimal string, kept exact: UnblendedCost (and BlendedCost, NetUnblendedCost). */
  amount: string;
  /**
   * AmortizedCost (and NetAmortizedCost), exact; default `amount` (`0` for SavingsPlanNegation). It
   * may differ only on the record types where AWS amortizes (RECORD_TYPES above): on `Usage` rows
   * it equals `amount`, and addCost refuses anything else.
   */
  amortizedAmount?: string;
  /** Default `Usage`; any other value than RECORD_TYPES is refused. */
  recordType?: RecordType;
}

export interface ExpectedTotalFilter {
  accountId?: string;
  /** Inclusive. */
  start: string;
  /** Exclusive. */
  end: string;
  recordType?: RecordType;
  /** Only these record types (with `recordType`, both must hold). */
  recordTypes?: readonly RecordType[];
  /** Every record type but these. */
  exceptRecordTypes?: readonly RecordType[];
  service?: string;
  region?: string;
  /** Default UnblendedCost. */
  metric?: 'UnblendedCost' | 'AmortizedCost';
}

const AMORTIZED_METRICS = new Set(['AmortizedCost', 'NetAmortizedCost']);
const KNOWN_RECORD_TYPES = new Set<string>(RECORD_TYPES);
/** Record types whose AmortizedCost may differ from their UnblendedCost. */
const AMORTIZED_TYPES = new Set<string>([
  'SavingsPlanCoveredUsage',
  'SavingsPlanNegation',
  'SavingsPlanRecurringFee',
  'DiscountedUsage',
  'RIFee',
]);
const AMOUNT_RE = /^-?\d+(\.\d+)?$/;

interface StoredRecord {
  accountId: string;
  day: number; // days since epoch
  month: number; // year * 12 + month0
  date: string;
  service: string;
  resourceId: string;
  region: string;
  recordType: RecordType;
  amount: Dec;
  amortized: Dec;
}

/**
 * What no real account shows is refused, so a test cannot rest on it: a `Usage` row whose
 * amortized cost differs (covered usage is SavingsPlanCoveredUsage or DiscountedUsage), a negation
 * that adds cost or has an amortized cost, a DiscountedUsage row with an unblended cost.
 */
function checkRecordAmounts(recordType: RecordType, amount: Dec, amortized: Dec): void {
  if (!AMORTIZED_TYPES.has(recordType) && !amortized.eq(amount)) {
    throw new Error(
      `addCost: a ${recordType} row's AmortizedCost equals its UnblendedCost; usage a Savings Plan or Reserved Instance covers is SavingsPlanCoveredUsage or DiscountedUsage`,
    );
  }
  if (recordType === 'SavingsPlanNegation' && (amount.gt(0) || !amortized.isZero())) {
    throw new Error(
      'addCost: a SavingsPlanNegation row takes the on-demand cost off (UnblendedCost <= 0) and has no AmortizedCost',
    );
  }
  if (recordType === 'DiscountedUsage' && !amount.isZero()) {
    throw new Error(
      'addCost: a DiscountedUsage row has UnblendedCost 0 (the reservation bills as RIFee); its cost is the AmortizedCost',
    );
  }
}

/** Exact, never exponent notation, never "-0". */
function fmtAmount(d: Dec): string {
  return d.isZero() ? '0' : d.toFixed();
}

interface Period {
  Start: string;
  End: string;
  startDay: number;
}
export interface FlatItem {
  p: number;
  keys: string[];
  amount: string;
  amortized: string;
}
export interface Flat {
  periods: Period[];
  items: FlatItem[];
  grouped: boolean;
}

export function metricsFor(q: ParsedQuery, it: FlatItem): Record<string, { Amount: string; Unit: string }> {
  const out: Record<string, { Amount: string; Unit: string }> = {};
  for (const m of q.metrics) {
    out[m] = !COST_METRICS.has(m)
      ? { Amount: '0', Unit: 'N/A' }
      : { Amount: AMORTIZED_METRICS.has(m) ? it.amortized : it.amount, Unit: 'USD' };
  }
  return out;
}

function buildPeriods(q: ParsedQuery): Period[] {
  const out: Period[] = [];
  if (q.granularity === 'DAILY') {
    for (let d = q.startDay; d < q.endDay; d++) out.push({ Start: fmtDay(d), End: fmtDay(d + 1), startDay: d });
    return out;
  }
  let s = q.startDay;
  while (s < q.endDay) {
    const e = Math.min(firstDayOfMonth(monthOfDay(s) + 1), q.endDay);
    out.push({ Start: fmtDay(s), End: fmtDay(e), startDay: s });
    s = e;
  }
  return out;
}

export class CostStore {
  private readonly byAccount = new Map<string, StoredRecord[]>();
  private recordCount = 0;
  /** Flattened answers by query hash: pages of one query are cut from one flattening. */
  private readonly cache = new Map<string, Flat>();
  // Bulk loads repeat few dates: parse each once.
  private readonly dayCache = new Map<string, { day: number; month: number }>();

  add(item: FakeCostItem): void {
    let dm = this.dayCache.get(item.date);
    if (!dm) {
      const d = parseDay(item.date);
      if (d === undefined) throw new Error(`addCost: invalid date ${JSON.stringify(item.date)}`);
      this.dayCache.set(item.date, (dm = { day: d, month: monthOfDay(d) }));
    }
    if (typeof item.amount !== 'string' || !AMOUNT_RE.test(item.amount)) {
      throw new Error(`addCost: amount must be a plain decimal string, got ${JSON.stringify(item.amount)}`);
    }
    if (
      item.amortizedAmount !== undefined &&
      (typeof item.amortizedAmount !== 'string' || !AMOUNT_RE.test(item.amortizedAmount))
    ) {
      throw new Error(
        `addCost: amortizedAmount must be a plain decimal string, got ${JSON.stringify(item.amortizedAmount)}`,
      );
    }
    const recordType = item.recordType ?? 'Usage';
    if (!KNOWN_RECORD_TYPES.has(recordType))
      throw new Error(
        `addCost: unknown recordType ${JSON.stringify(recordType)}; Cost Explorer's are ${RECORD_TYPES.join(', ')}`,
      );
    const amount = new Dec(item.amount);
    const amortized =
      item.amortizedAmount !== undefined
        ? new Dec(item.amortizedAmount)
        : recordType === 'SavingsPlanNegation'
          ? new Dec(0)
          : amount;
    checkRecordAmounts(recordType, amount, amortized);
    const r: StoredRecord = {
      accountId: item.accountId,
      day: dm.day,
      month: dm.month,
      date: item.date,
      service: item.service,
      resourceId: item.resourceId,
      region: item.region,
      recordType,
      amount,
      amortized,
    };
    let list = this.byAccount.get(r.accountId);
    if (!list) this.byAccount.set(r.accountId, (list = []));
    list.push(r);
    this.recordCount++;
    this.cache.clear();
  }

  clear(): void {
    this.byAccount.clear();
    this.recordCount = 0;
    this.cache.clear();
  }

  size(): number {
    return this.recordCount;
  }

  expectedTotal(f: ExpectedTotalFilter): string {
    const s = parseDay(f.start);
    const e = parseDay(f.end);
    if (s === undefined || e === undefined) throw new Error('expectedTotal: start/end must be YYYY-MM-DD');
    let sum = new Dec(0);
    for (const list of this.candidates(f.accountId === undefined ? undefined : new Set([f.accountId]))) {
      for (const r of list) {
        if (r.day < s || r.day >= e) continue;
        if (f.recordType && r.recordType !== f.recordType) continue;
        if (f.recordTypes && !f.recordTypes.includes(r.recordType)) continue;
        if (f.exceptRecordTypes?.includes(r.recordType)) continue;
        if (f.service !== undefined && r.service !== f.service) continue;
        if (f.region !== undefined && r.region !== f.region) continue;
        sum = sum.plus(f.metric === 'AmortizedCost' ? r.amortized : r.amount);
      }
    }
    return fmtAmount(sum);
  }

  private candidates(accounts: Set<string> | undefined): StoredRecord[][] {
    if (!accounts) return [...this.byAccount.values()];
    const out: StoredRecord[][] = [];
    for (const a of accounts) {
      const l = this.byAccount.get(a);
      if (l) out.push(l);
    }
    return out;
  }

  flatten(q: ParsedQuery): Flat {
    const cacheKey = q.hash;
    const hit = this.cache.get(cacheKey);
    if (hit) return hit;
    const periods = buildPeriods(q);
    const startMonth = monthOfDay(q.startDay);
    const periodOf =
      q.granularity === 'DAILY' ? (r: StoredRecord) => r.day - q.startDay : (r: StoredRecord) => r.month - startMonth;
    const grouped = q.groupBy.length > 0;
    const sums: Map<string, { keys: string[]; sum: Dec; amortized: Dec }>[] = periods.map(() => new Map());
    const pred = q.filter?.pred;
    const keyDims = q.groupBy.map((g) => g.Key);
    const [k0 = '', k1 = ''] = keyDims;
    const keyOf =
      keyDims.length === 0
        ? () => ''
        : keyDims.length === 1
          ? (r: StoredRecord) => dimValue(r, k0)
          : (r: StoredRecord) => `${dimValue(r, k0)}\u0001${dimValue(r, k1)}`;
    for (const list of this.candidates(q.filter?.accounts)) {
      for (const r of list) {
        if (r.day < q.startDay || r.day >= q.endDay) continue;
        if (pred && !pred(r)) continue;
        const k = keyOf(r);
        const m = sums[periodOf(r)]!;
        const cur = m.get(k);
        if (cur) {
          cur.sum = cur.sum.plus(r.amount);
          cur.amortized = cur.amortized.plus(r.amortized);
        } else {
          m.set(k, { keys: keyDims.map((d) => dimValue(r, d)), sum: r.amount, amortized: r.amortized });
        }
      }
    }
    const items: FlatItem[] = [];
    sums.forEach((m, p) => {
      if (!grouped) {
        const all = m.get('');
        items.push({
          p,
          keys: [],
          amount: fmtAmount(all?.sum ?? new Dec(0)),
          amortized: fmtAmount(all?.amortized ?? new Dec(0)),
        });
        return;
      }
      const ks = [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const k of ks) {
        const g = m.get(k)!;
        items.push({ p, keys: g.keys, amount: fmtAmount(g.sum), amortized: fmtAmount(g.amortized) });
      }
    });
    const flat: Flat = { periods, items, grouped };
    if (this.cache.size >= 64) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(cacheKey, flat);
    return flat;
  }
}

import { addDays, computeBillingWindow } from './billing-window';
import type { DateRange, SharedDays } from './schemas';

// Days two leases of one account share: the ISB does not enforce its cool-down between leases
// (its issue #70), so billing windows can overlap. Pure and free of zod, for workflow code.

/** Another lease of the same account, as the ISB API lists it (chargeback.ts AccountLease). */
interface OtherLease {
  uuid: string;
  startDate: string;
  endDate?: string;
}

const DAY_MS = 24 * 3600_000;

/** Milliseconds of [start, end) that fall on `day` (UTC). */
function heldOn(day: string, start: string, end: string): number {
  const from = Date.parse(`${day}T00:00:00Z`);
  return Math.max(0, Math.min(Date.parse(end), from + DAY_MS) - Math.max(Date.parse(start), from));
}

/**
 * The days this lease's billing window shares with another lease of the same account, and who
 * counts each. The rule: a shared day counts for the lease that held the account longest that
 * UTC day (lease start to end, padding excluded); on a tie (a padding day neither held, or equal
 * hours) for the lease that started first, then by uuid. Every lease computes the same owner, so
 * across the ledger each shared day counts once. A lease still open counts as held until `now`.
 */
export function sharedDaysOf(
  self: { uuid: string; startDate: string; endDate: string; window: DateRange },
  others: OtherLease[],
  paddingHours: number,
  now: string,
): SharedDays[] {
  const leases = others
    .filter((o) => o.uuid !== self.uuid)
    .map((o) => {
      const end = o.endDate ?? now;
      const window = computeBillingWindow({
        leaseStart: o.startDate,
        leaseEnd: end < o.startDate ? o.startDate : end,
        paddingHours,
      });
      return { uuid: o.uuid, startDate: o.startDate, endDate: end, window };
    });
  const all = [{ ...self }, ...leases];
  const owner = (day: string) =>
    all
      .filter((l) => l.window.start <= day && day < l.window.end)
      .map((l) => ({ uuid: l.uuid, held: heldOn(day, l.startDate, l.endDate), startDate: l.startDate }))
      .sort(
        (a, b) => b.held - a.held || Date.parse(a.startDate) - Date.parse(b.startDate) || (a.uuid < b.uuid ? -1 : 1),
      )[0]!.uuid;
  const result: SharedDays[] = [];
  for (const other of leases) {
    const days: string[] = [];
    const from = self.window.start > other.window.start ? self.window.start : other.window.start;
    const to = self.window.end < other.window.end ? self.window.end : other.window.end;
    for (let d = from; d < to; d = addDays(d, 1)) days.push(d);
    if (days.length > 0)
      result.push({ leaseUuid: other.uuid, days, countedHere: days.filter((d) => owner(d) === self.uuid) });
  }
  return result.sort((a, b) => (a.leaseUuid < b.leaseUuid ? -1 : 1));
}

/** Shared days this lease's ledger rows leave to another lease. */
export const daysCountedElsewhere = (shared: SharedDays[] | undefined): string[] =>
  [...new Set((shared ?? []).flatMap((s) => s.days.filter((d) => !s.countedHere.includes(d))))].sort();

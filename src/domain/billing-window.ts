import { MAX_PADDING_HOURS } from './defaults';
import type { DateRange } from './schemas';

// Cost Explorer resource-level data covers the last 14 days counted back from today.
export const RESOURCE_LEVEL_DAYS = 14;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
// RFC 3339 date-time (seconds optional, `+HHMM` tolerated); an offset is required because a
// local time would make the window depend on the machine's zone.
const DATE_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|([+-])(\d{2}):?(\d{2}))$/;

// Date.UTC maps years 0..99 to 19xx; setUTCFullYear does not.
function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number | null {
  const dt = new Date(0);
  dt.setUTCFullYear(y, mo - 1, d);
  dt.setUTCHours(h, mi, s, ms);
  const valid =
    dt.getUTCFullYear() === y &&
    dt.getUTCMonth() === mo - 1 &&
    dt.getUTCDate() === d &&
    dt.getUTCHours() === h &&
    dt.getUTCMinutes() === mi &&
    dt.getUTCSeconds() === s;
  return valid ? dt.getTime() : null;
}

function dayString(ms: number): string {
  const iso = new Date(ms).toISOString();
  if (!/^\d{4}-/.test(iso)) throw new Error(`date out of range (years 0000..9999): ${iso}`);
  return iso.slice(0, 10);
}

function parseDay(date: string, what = 'date'): number {
  const m = typeof date === 'string' ? DATE_RE.exec(date) : null;
  const ms = m ? utcMs(Number(m[1]), Number(m[2]), Number(m[3])) : null;
  if (ms === null) throw new Error(`invalid ${what} ${JSON.stringify(date)}: expected a real calendar date YYYY-MM-DD`);
  return ms;
}

// ms is floored to the millisecond; `subMs` records a finer fraction so ceilings stay correct.
interface Instant {
  ms: number;
  subMs: boolean;
}

function parseInstant(iso: string, what: string): Instant {
  const m = typeof iso === 'string' ? DATE_TIME_RE.exec(iso) : null;
  if (m) {
    const frac = m[7] ?? '';
    const offH = m[10] === undefined ? 0 : Number(m[10]);
    const offM = m[11] === undefined ? 0 : Number(m[11]);
    const local =
      offH <= 23 && offM <= 59
        ? utcMs(
            Number(m[1]),
            Number(m[2]),
            Number(m[3]),
            Number(m[4]),
            Number(m[5]),
            Number(m[6] ?? 0),
            Number(frac.slice(0, 3).padEnd(3, '0')),
          )
        : null;
    if (local !== null) {
      const sign = m[9] === '-' ? -1 : 1;
      return { ms: local - sign * (offH * 60 + offM) * 60_000, subMs: /[1-9]/.test(frac.slice(3)) };
    }
  }
  throw new Error(
    `invalid ${what} ${JSON.stringify(iso)}: expected an ISO 8601 date-time with offset, e.g. 2024-05-01T09:30:00+05:30`,
  );
}

function checkPadding(paddingHours: number): void {
  if (!Number.isInteger(paddingHours) || paddingHours < 0 || paddingHours > MAX_PADDING_HOURS) {
    throw new Error(`invalid paddingHours ${String(paddingHours)}: expected an integer 0..${MAX_PADDING_HOURS}`);
  }
}

export function addDays(date: string, n: number): string {
  if (!Number.isInteger(n)) throw new Error(`invalid day count ${String(n)}: expected an integer`);
  return dayString(parseDay(date) + n * DAY_MS);
}

/**
 * The days of `range` in the calendar month holding most of them (the later one on a tie), when
 * the range spans two months; undefined within one. A MONTHLY resource query returns a resource's
 * cost once per month, so across a month boundary most resources take two groups.
 */
export function monthOfMostDays(range: DateRange): DateRange | undefined {
  const last = addDays(range.end, -1);
  const boundary = `${last.slice(0, 7)}-01`;
  if (boundary <= range.start) return undefined;
  return parseDay(boundary) - parseDay(range.start) > parseDay(range.end) - parseDay(boundary)
    ? { start: range.start, end: boundary }
    : { start: boundary, end: range.end };
}

export function utcDay(iso: string): string {
  return dayString(parseInstant(iso, 'date-time').ms);
}

export function computeBillingWindow(args: { leaseStart: string; leaseEnd: string; paddingHours: number }): DateRange {
  checkPadding(args.paddingHours);
  const start = parseInstant(args.leaseStart, 'leaseStart');
  const end = parseInstant(args.leaseEnd, 'leaseEnd');
  if (end.ms < start.ms || (end.ms === start.ms && start.subMs && !end.subMs)) {
    throw new Error(`leaseEnd ${args.leaseEnd} is before leaseStart ${args.leaseStart}`);
  }
  const pad = args.paddingHours * HOUR_MS;
  const startDay = Math.floor((start.ms - pad) / DAY_MS) * DAY_MS;
  const endInstant = end.ms + pad + (end.subMs ? 1 : 0);
  // An empty range (zero-length lease exactly at midnight, no padding) is invalid for Cost Explorer.
  const endDay = Math.max(Math.ceil(endInstant / DAY_MS) * DAY_MS, startDay + DAY_MS);
  return { start: dayString(startDay), end: dayString(endDay) };
}

export function settleUntil(terminatedAt: string, paddingHours: number): string {
  checkPadding(paddingHours);
  const t = parseInstant(terminatedAt, 'terminatedAt');
  // Round a sub-millisecond remainder up: settling a hair late is harmless, early is not.
  return new Date(t.ms + (t.subMs ? 1 : 0) + paddingHours * HOUR_MS).toISOString();
}

export function splitByResourceHorizon(
  window: DateRange,
  today: string,
): { serviceLevel: DateRange | null; resourceLevel: DateRange | null } {
  const startMs = parseDay(window.start, 'window.start');
  const endMs = parseDay(window.end, 'window.end');
  parseDay(today, 'today');
  if (endMs < startMs) throw new Error(`window end ${window.end} is before start ${window.start}`);
  if (endMs === startMs) return { serviceLevel: null, resourceLevel: null };
  const horizon = addDays(today, -(RESOURCE_LEVEL_DAYS - 1));
  if (window.end <= horizon) return { serviceLevel: { ...window }, resourceLevel: null };
  if (window.start >= horizon) return { serviceLevel: null, resourceLevel: { ...window } };
  return {
    serviceLevel: { start: window.start, end: horizon },
    resourceLevel: { start: horizon, end: window.end },
  };
}

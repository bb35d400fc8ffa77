import { addDays, utcDay } from './billing-window';
import type { DateRange } from './schemas';

// The month of a group report and where its files go. Pure and free of zod, for workflow code.

/** [first day, first day of the next month). */
export function monthRange(month: string): DateRange {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const start = `${month}-01`;
  const end = m === 12 ? `${y + 1}-01-01` : `${y}-${String(m + 1).padStart(2, '0')}-01`;
  return { start, end };
}

/** The month before the one `now` falls in (UTC). */
export function previousMonth(now: string): string {
  const day = utcDay(now);
  return addDays(`${day.slice(0, 7)}-01`, -1).slice(0, 7);
}

/** Deterministic per month: a retry or a second run overwrites the same objects. */
export const groupReportKeys = (prefix: string, month: string) => {
  const [y, m] = month.split('-');
  return {
    groups: `${prefix}group-reports/${y}/${m}/cost-report-${month}.csv`,
    leases: `${prefix}group-reports/${y}/${m}/cost-report-${month}.leases.csv`,
    staging: `${prefix}group-reports/${y}/${m}/staging/`,
  };
};

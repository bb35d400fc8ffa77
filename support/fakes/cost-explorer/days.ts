// Cost Explorer's periods are whole UTC days: a day is an integer count of days since the epoch.
const DAY_MS = 86_400_000;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** The day of a real 'YYYY-MM-DD' date, undefined for anything else. */
export function parseDay(s: unknown): number | undefined {
  if (typeof s !== 'string' || !DATE_RE.test(s)) return undefined;
  const ms = Date.parse(`${s}T00:00:00Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== s) return undefined;
  return ms / DAY_MS;
}
export const fmtDay = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);
/** year * 12 + month0 */
export const monthOfDay = (day: number) => {
  const d = new Date(day * DAY_MS);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
};
export const firstDayOfMonth = (month: number) => Date.UTC(Math.floor(month / 12), month % 12, 1) / DAY_MS;
export const utcToday = () => new Date().toISOString().slice(0, 10);

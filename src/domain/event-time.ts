// A LeaseTerminated `time` sets the settle timer and the billing window's end, so a forged one
// could park a run until year 9999 (and turn the genuine event into a "duplicate") or fail it.

/** How far ahead of our clock an event's time may be: senders' clocks drift a little. */
export const MAX_CLOCK_SKEW_MINUTES = 5;

/** Why `time` cannot be a lease's termination time, or undefined when it can. */
export function eventTimeProblem(time: string, opts: { now: number; maxAgeDays: number }): string | undefined {
  const t = Date.parse(time);
  if (Number.isNaN(t)) return 'must be an ISO 8601 date-time';
  if (t > opts.now + MAX_CLOCK_SKEW_MINUTES * 60_000)
    return `must not be more than ${MAX_CLOCK_SKEW_MINUTES} minutes in the future`;
  if (t < opts.now - opts.maxAgeDays * 24 * 3600_000)
    return `must be within the last ${opts.maxAgeDays} days (WEBHOOK_MAX_EVENT_AGE_DAYS)`;
  return undefined;
}

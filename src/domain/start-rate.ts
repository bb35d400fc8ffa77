/**
 * Lease runs started per minute at most by reconciliation and backfill, so a backlog reaches the
 * Cost Explorer pacer as a trickle beside the live leases, not as one burst.
 */
export const DEFAULT_START_RATE_PER_MINUTE = 20;

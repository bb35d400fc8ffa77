// The benchmark's targets and the load that measures them, from the benchmark issue; the Targets
// table (targets.ts) judges each section's results against them.

export const CAP_RPS = 4;
export const FAKE_THROTTLE_RPS = 5;
export const TARGET_RATE_SHARE = 0.95;
/** Out of a burst, the first report within this many seconds of its lease's first Cost Explorer call. */
export const TARGET_FIRST_REPORT_SECONDS = 5;
/** Out of a burst, the median lease's start → published within this share of the burst's span. */
export const TARGET_P50_SHARE_OF_SPAN = 0.6;
/** A live lease arriving during a backfill: at least this share of the backfill publishes after it. */
export const TARGET_BACKFILL_AFTER_LIVE_SHARE = 0.5;
/** One lease's collection, first to last call, within this factor of the pacer's floor ((calls − 1) / cap). */
export const TARGET_COLLECTION_OVER_FLOOR = 1.1;
export const TARGET_RATIO_AIM = 5;
/** Cost Explorer calls per lease, at most: the targets docs/benchmarks.md states. */
export const TARGET_CALLS: Record<string, number> = { small: 3, large: 25 };
/** The fake's page size: the floor's too. */
export const FAKE_PAGE_SIZE = 500;
export const TARGET_HISTORY_EVENTS = 60;
export const TARGET_HISTORY_BYTES = 64 * 1024;
export const TARGET_WRITE_REPORT_RSS_BYTES = 512 * 1024 * 1024;
// Well inside writeReport's 30 s heartbeat timeout, and short enough that the worker's other tasks
// are not held up noticeably.
export const TARGET_MAX_STALL_MS = 1_000;
export const TARGET_WEBHOOK_RATIO = 0.9;
export const WEBHOOK_CONCURRENCY = 32;
export const WEBHOOK_BLOCKS = 10;

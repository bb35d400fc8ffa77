import { continueAsNew, log, proxyActivities, setWorkflowOptions, sleep, upsertMemo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { DEFAULT_START_RATE_PER_MINUTE } from '../src/domain/start-rate';
import { isbListPage, startRuns } from './activity-options';
import { versioningBehavior } from './versioning';

/** Pages per run before continuing as new: the history stays small however many leases the ISB holds. */
const PAGES_PER_RUN = 50;

export interface ReconcileInput {
  lookbackDays: number;
  startRatePerMinute?: number;
  /** ISB list page size; the activity's default when absent. */
  pageSize?: number;
  /** Carried across continue-as-new. */
  pageIdentifier?: string;
  since?: string;
  totals?: ReconcileResult;
}

export interface ReconcileResult {
  since: string;
  pages: number;
  scanned: number;
  /** Ended leases in the look-back. */
  found: number;
  started: number;
  /** Found leases that already had a run, open or closed. */
  existing: number;
  invalid: number;
  summary: string;
}

const { listEndedLeases } = proxyActivities<Activities>(isbListPage);
const { startLeaseRuns } = proxyActivities<Activities>(startRuns);

const summarise = (r: Omit<ReconcileResult, 'summary'>) =>
  `found ${r.found} ended since ${r.since.slice(0, 10)}, ${r.started} started, ${r.existing} already had a run` +
  `${r.invalid ? `, ${r.invalid} invalid` : ''} (${r.scanned} leases scanned)`;

// Pinned: each scheduled run starts on the current build and lasts minutes (hours at most, paced
// starts), so it finishes where it began without needing replay-safe changes.
setWorkflowOptions(versioningBehavior('PINNED'), reconcileLeasesWorkflow);

/**
 * Lists leases from the ISB API page by page and starts the lease workflow for each one that ended
 * in the look-back and has none: the safety net for LeaseTerminated events that never arrived.
 */
export async function reconcileLeasesWorkflow(input: ReconcileInput): Promise<ReconcileResult> {
  const since = input.since ?? new Date(Date.now() - input.lookbackDays * 24 * 3600_000).toISOString();
  const rate = input.startRatePerMinute ?? DEFAULT_START_RATE_PER_MINUTE;
  const totals = input.totals ?? {
    since,
    pages: 0,
    scanned: 0,
    found: 0,
    started: 0,
    existing: 0,
    invalid: 0,
    summary: '',
  };
  let pageIdentifier = input.pageIdentifier;
  let owed = 0;
  for (let page = 0; page < PAGES_PER_RUN; page++) {
    const listed = await listEndedLeases.executeWithOptions(
      { summary: `ISB leases page ${totals.pages + 1}, ended since ${since.slice(0, 10)}` },
      [{ pageIdentifier, endedAfter: since, pageSize: input.pageSize }],
    );
    totals.pages += 1;
    totals.scanned += listed.scanned;
    totals.found += listed.leases.length + listed.unusable.length;
    totals.invalid += listed.unusable.length;
    for (const u of listed.unusable) log.warn('ISB lease not usable', u);
    // At most `rate` starts a minute: chunks of `rate`, each followed by a pause as long as its starts are worth.
    for (let i = 0; i < listed.leases.length; i += rate) {
      if (owed > 0) await sleep(owed);
      const chunk = listed.leases.slice(i, i + rate);
      const runs = await startLeaseRuns.executeWithOptions(
        { summary: `Start runs for up to ${chunk.length} ended leases without one` },
        [chunk],
      );
      totals.started += runs.started.length;
      totals.existing += runs.existing;
      totals.invalid += runs.invalid.length;
      owed = Math.ceil((runs.started.length * 60_000) / rate);
    }
    totals.summary = summarise(totals);
    upsertMemo({ progress: totals.summary });
    pageIdentifier = listed.nextPageIdentifier;
    if (!pageIdentifier) return totals;
  }
  return continueAsNew<typeof reconcileLeasesWorkflow>({ ...input, since, pageIdentifier, totals });
}

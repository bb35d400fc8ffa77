import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { createIsbActivities } from '../../../activities/isb';
import { jwtSecretLoader } from '../../infrastructure/aws';
import { workflowIdFor } from '../../infrastructure/client';
import type { Config } from '../../infrastructure/config';
import { startFromLease } from '../../infrastructure/lease-run-start';
import { addDays } from '../../domain/billing-window';
import { DEFAULT_START_RATE_PER_MINUTE } from '../../domain/start-rate';
import type { EndedLease } from '../../domain/schemas';
import { CliError } from '../cli-error';
import { connect } from '../lease-status';

export interface BackfillOptions {
  since: string;
  /** Last day included, YYYY-MM-DD; default today. */
  until?: string;
  dryRun?: boolean;
  /** Runs started per minute at most. */
  rate?: number;
}

const hasRun = async (client: Client, uuid: string) => {
  try {
    await client.workflow.getHandle(workflowIdFor(uuid)).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
};

/**
 * `lease-costs backfill`: the reconciliation's listing and start rule over any range of end dates.
 * Starts are spread at `rate` a minute: every run's Cost Explorer calls already queue behind the
 * one global pacer, and spreading keeps a backlog from crowding out the live leases in that queue.
 */
export async function backfillCommand(config: Config, opts: BackfillOptions): Promise<void> {
  const until = opts.until ?? new Date().toISOString().slice(0, 10);
  if (until < opts.since) throw new CliError(`--until ${until} is before --since ${opts.since}`, 2);
  const rate = opts.rate ?? DEFAULT_START_RATE_PER_MINUTE;
  const client = await connect(config);
  const isb = createIsbActivities({
    baseUrl: config.ISB_API_BASE_URL!,
    loadSecret: jwtSecretLoader(config),
    userEmail: config.ISB_JWT_USER_EMAIL,
  });
  const tty = process.stderr.isTTY;
  const counts = { pages: 0, scanned: 0, found: 0, started: 0, existing: 0, invalid: 0, unreadable: 0 };
  const progress = (final = false) => {
    if (!tty) return;
    process.stderr.write(
      `\rpages ${counts.pages}, scanned ${counts.scanned}, ended in range ${counts.found}, ` +
        `${opts.dryRun ? 'would start' : 'started'} ${counts.started}, already had a run ${counts.existing}${final ? '\n' : ''}`,
    );
  };
  const line = (text: string) => {
    if (tty) process.stderr.write('\r\x1b[2K');
    console.log(text);
  };
  let lastStart = 0;
  const one = async (lease: EndedLease) => {
    const what = `${lease.uuid} account ${lease.accountId} ${lease.status} ended ${lease.endDate}`;
    if (opts.dryRun) {
      if (await hasRun(client, lease.uuid)) counts.existing += 1;
      else {
        counts.started += 1;
        line(`would start ${what}`);
      }
      return;
    }
    const wait = lastStart + 60_000 / rate - Date.now();
    if (wait > 0) await sleep(wait);
    const outcome = await startFromLease(client, config, lease);
    if (outcome.status === 'started') {
      lastStart = Date.now();
      counts.started += 1;
      line(`started ${what}`);
    } else if (outcome.status === 'duplicate') counts.existing += 1;
    else {
      counts.invalid += 1;
      line(`invalid ${lease.uuid}: ${outcome.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    }
  };
  try {
    let pageIdentifier: string | undefined;
    do {
      const page = await isb
        .listEndedLeases({
          pageIdentifier,
          endedAfter: `${opts.since}T00:00:00Z`,
          endedBefore: `${addDays(until, 1)}T00:00:00Z`,
        })
        .catch((err: Error) => {
          throw new CliError(`cannot list leases from the ISB API: ${err.message}`, 1);
        });
      counts.pages += 1;
      counts.scanned += page.scanned;
      counts.found += page.leases.length + page.unusable.length;
      for (const u of page.unusable) {
        counts.invalid += 1;
        line(`invalid ${u.uuid ?? '(no uuid)'}: ${u.reason}`);
      }
      counts.unreadable += page.invalidRecords;
      for (const lease of page.leases) {
        await one(lease);
        progress();
      }
      progress();
      pageIdentifier = page.nextPageIdentifier;
    } while (pageIdentifier);
    progress(true);
    console.log(
      `${opts.since} to ${until}: ${counts.found} ended leases, ${counts.started} ${opts.dryRun ? 'would be started' : 'started'}, ` +
        `${counts.existing} already had a run${counts.invalid ? `, ${counts.invalid} invalid` : ''} (${counts.scanned} leases scanned in ${counts.pages} pages)`,
    );
    // Records failing the ISB's own schema are left out of its list; leases past its leases.ttl are gone.
    if (counts.unreadable)
      console.log(
        `the ISB API left out ${counts.unreadable} lease records that fail its own schema (see its logs); they cannot be backfilled until repaired`,
      );
  } finally {
    await client.connection.close();
  }
}

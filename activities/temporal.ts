import { heartbeat } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { EndedLease } from '../src/domain/schemas';
import { startFromLease, type IntakeConfig } from '../src/infrastructure/lease-run-start';

export interface TemporalDeps {
  client: Client;
  config: IntakeConfig;
}

export interface StartRunsResult {
  /** Uuids of the leases that got a run now. */
  started: string[];
  /** Leases that already had a run, open or closed. */
  existing: number;
  invalid: { uuid: string; error: string }[];
}

export function createTemporalActivities(deps: TemporalDeps) {
  return {
    /** Starts the lease workflow for each lease that has none, by the webhook's id rule. Safe to retry. */
    async startLeaseRuns(leases: EndedLease[]): Promise<StartRunsResult> {
      const result: StartRunsResult = { started: [], existing: 0, invalid: [] };
      for (const lease of leases) {
        const outcome = await startFromLease(deps.client, deps.config, lease);
        if (outcome.status === 'started') result.started.push(outcome.leaseUuid);
        else if (outcome.status === 'duplicate') result.existing += 1;
        else
          result.invalid.push({
            uuid: lease.uuid,
            error: outcome.issues.map((i) => `${i.path}: ${i.message}`).join('; '),
          });
        heartbeat();
      }
      return result;
    },
  };
}

import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { createCostExplorerActivities } from '../../../activities/cost-explorer';
import { translateFailure } from '../../../activities/interceptor';
import { splitByResourceHorizon, utcDay } from '../../domain/billing-window';
import { reportRowsOf, stagedPartsOf, type CollectionProgress, type CollectionStep } from '../../domain/collection';
import { buildCostCsv } from '../../domain/csv';
import type { CostRow } from '../../domain/schemas';
import { costExplorerClient } from '../../infrastructure/aws';
import { pacedCallSlots, SLOT_REQUEST_TIMEOUT_MS, StaleSlotsError } from '../../infrastructure/call-pacer';
import type { Config } from '../../infrastructure/config';
import { CliError, EXIT_BAD_CONFIG, EXIT_UNREACHABLE } from '../cli-error';
import { connect } from '../lease-status';

/**
 * The worker's role, queries, pagination step and CSV, with pages kept in memory instead of S3.
 * Its calls take slots from the same pacer as the workers', so a one-off report never pushes Cost
 * Explorer past COST_EXPLORER_MAX_RPS, however many leases are being collected.
 */
export async function reportCommand(
  config: Config,
  opts: { account: string; start: string; end: string; out?: string },
) {
  if (opts.start >= opts.end) throw new CliError('--start must be before --end (end is exclusive)', EXIT_BAD_CONFIG);
  const client = await connect(config);
  try {
    const slots = pacedCallSlots(client, config.TEMPORAL_TASK_QUEUE, config.COST_EXPLORER_MAX_RPS);
    const parts = new Map<string, CostRow[]>();
    const { collectCostsPage } = createCostExplorerActivities({
      costExplorer: costExplorerClient(config.COST_EXPLORER_ROLE_ARN!, config.COST_EXPLORER_EXTERNAL_ID),
      roleArn: config.COST_EXPLORER_ROLE_ARN!,
      keyPrefix: '',
      costScope: config.COST_SCOPE,
      staging: { putPart: async (k, rows) => void parts.set(k, rows), getPart: async (k) => parts.get(k) ?? [] },
      acquireCallSlot: () =>
        slots().catch((err: unknown) => {
          if (err instanceof StaleSlotsError) throw new CliError(`${err.message} (is this host overloaded?)`);
          throw new CliError(
            `the Cost Explorer pacer on task queue ${config.TEMPORAL_TASK_QUEUE} did not answer within ${SLOT_REQUEST_TIMEOUT_MS / 1000} s ` +
              `(is a lease-costs worker running?): ${(err as Error).message}`,
            EXIT_UNREACHABLE,
          );
        }),
    });
    const split = splitByResourceHorizon({ start: opts.start, end: opts.end }, utcDay(new Date().toISOString()));
    // Staging keys need a lease uuid; this one lives only in memory.
    const input = { leaseUuid: randomUUID(), accountId: opts.account, version: 1, ...split };
    const page = async (progress?: CollectionProgress): Promise<CollectionStep> => {
      const step = await collectCostsPage(input, progress).catch((err: unknown) => {
        const failure = translateFailure(err, { roleArn: config.COST_EXPLORER_ROLE_ARN! });
        if (failure instanceof ApplicationFailure) throw new CliError(failure.message);
        throw err;
      });
      if (process.stderr.isTTY)
        process.stderr.write(`\rCost Explorer calls: ${step.done ? step.result.calls : step.progress.calls}`);
      return step;
    };
    let step = await page();
    while (!step.done) step = await page(step.progress);
    if (process.stderr.isTTY) process.stderr.write('\n');
    const { result } = step;
    const { csv, rowCount, total } = buildCostCsv(
      stagedPartsOf(result).flatMap((part) => reportRowsOf(part, parts.get(part.key) ?? [])),
    );
    if (opts.out) await writeFile(opts.out, csv);
    else process.stdout.write(csv);
    console.error(
      `${rowCount} rows, total ${total} USD, ${result.calls} Cost Explorer calls, resource level: ${result.resourceLevel}, COST_SCOPE ${config.COST_SCOPE}${opts.out ? `, written to ${opts.out}` : ''}`,
    );
  } finally {
    await client.connection.close();
  }
}

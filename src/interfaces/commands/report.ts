import { writeFile } from 'node:fs/promises';
import { createCostExplorerActivities } from '../../../activities/cost-explorer';
import { partKeysOf } from '../../../activities/s3';
import { costExplorerClient, callRateLimiter } from '../../infrastructure/aws';
import { splitByResourceHorizon, utcDay } from '../../domain/billing-window';
import type { Config } from '../../infrastructure/config';
import { buildCostCsv } from '../../domain/csv';
import type { CostRow } from '../../domain/schemas';
import { CliError } from '../cli-error';

/** The same role, queries and CSV as the worker, with pages kept in memory instead of S3. */
export async function reportCommand(config: Config, opts: { account: string; start: string; end: string; out?: string }) {
  if (opts.start >= opts.end) throw new CliError('--start must be before --end (end is exclusive)', 2);
  const parts = new Map<string, CostRow[]>();
  const { collect } = createCostExplorerActivities({
    costExplorer: costExplorerClient(config.COST_EXPLORER_ROLE_ARN!, config.COST_EXPLORER_EXTERNAL_ID),
    roleArn: config.COST_EXPLORER_ROLE_ARN!,
    keyPrefix: '',
    staging: { putPart: async (k, rows) => void parts.set(k, rows), getPart: async (k) => parts.get(k) ?? [] },
    acquireCallSlot: callRateLimiter(config.COST_EXPLORER_MAX_RPS),
  });
  const split = splitByResourceHorizon({ start: opts.start, end: opts.end }, utcDay(new Date().toISOString()));
  const result = await collect(
    { leaseUuid: 'one-off', accountId: opts.account, version: 1, ...split },
    undefined,
    (p) => process.stderr.write(`\rpages fetched: ${p.pages}`),
  );
  process.stderr.write('\n');
  const { csv, rowCount, total } = buildCostCsv(partKeysOf(result).flatMap((k) => parts.get(k) ?? []));
  if (opts.out) await writeFile(opts.out, csv);
  else process.stdout.write(csv);
  console.error(`${rowCount} rows, total ${total} USD, ${result.calls} Cost Explorer calls, resource level: ${result.resourceLevel}${opts.out ? `, written to ${opts.out}` : ''}`);
}

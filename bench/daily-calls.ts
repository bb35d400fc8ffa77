// What the daily series costs in Cost Explorer calls: the service-level queries a run made (DAILY),
// replayed MONTHLY, as they were before the series existed, against the same fake and data.
import {
  CostExplorerClient,
  GetCostAndUsageCommand,
  type GetCostAndUsageCommandInput,
} from '@aws-sdk/client-cost-explorer';
import type { FakeCeCall } from '../support/fakes/cost-explorer';

export interface DailySeriesCalls {
  /** GetCostAndUsage calls of the run (DAILY). */
  daily: number;
  /** The same queries, MONTHLY: every page. */
  monthly: number;
}

export async function dailySeriesCalls(endpoint: string, runCalls: FakeCeCall[]): Promise<DailySeriesCalls> {
  const serviceLevel = runCalls.filter((c) => c.operation === 'GetCostAndUsage' && c.status === 200);
  const queries = new Map<string, GetCostAndUsageCommandInput>();
  for (const c of serviceLevel) {
    const { NextPageToken: _token, ...query } = c.request as GetCostAndUsageCommandInput;
    queries.set(JSON.stringify(query), query);
  }
  const client = new CostExplorerClient({
    region: 'us-east-1',
    endpoint,
    maxAttempts: 1,
    credentials: { accessKeyId: 'AKIADAILYREPLAY', secretAccessKey: 'daily-replay' },
  });
  let monthly = 0;
  try {
    for (const query of queries.values()) {
      let token: string | undefined;
      do {
        const page = await client.send(
          new GetCostAndUsageCommand({ ...query, Granularity: 'MONTHLY', NextPageToken: token }),
        );
        monthly++;
        token = page.NextPageToken || undefined;
      } while (token);
    }
  } finally {
    client.destroy();
  }
  return { daily: serviceLevel.length, monthly };
}

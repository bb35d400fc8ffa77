import { asyncLocalStorage } from '@temporalio/activity';
import { IllegalStateError, noopMetricMeter, type Logger as SdkLogger } from '@temporalio/common';
import type { Config } from './config';
import { sdkLogger, type Logger } from './logging';

/** Our metric names, Prometheus style: counters end in `_total`, durations are in seconds. */
export const METRICS = {
  costExplorerCalls: 'lease_costs_cost_explorer_calls_total',
  resourceLevelRefusals: 'lease_costs_resource_level_refusals_total',
  collectionDuration: 'lease_costs_collection_duration_seconds',
  reportRows: 'lease_costs_report_rows',
  reportCost: 'lease_costs_report_cost_usd',
  isbInvalidRecords: 'lease_costs_isb_invalid_records_total',
} as const;

/** Histogram buckets for our own metrics (the exporter's defaults stop at 10 000). */
const BUCKETS = {
  [METRICS.collectionDuration]: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  [METRICS.reportRows]: [0, 10, 100, 1_000, 10_000, 100_000, 1_000_000],
  [METRICS.reportCost]: [0, 1, 10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000],
};

let installed: SdkLogger | undefined;

/**
 * Installs the SDK Runtime with its logs (the worker's, workflows', activities' and core's) going
 * through `logger`, and, when METRICS_BIND_ADDRESS is set, a Prometheus `/metrics` endpoint. Call it
 * before any NativeConnection or Worker exists; later calls return the same SDK logger.
 */
export async function installRuntime(config: Pick<Config, 'METRICS_BIND_ADDRESS'>, logger: Logger): Promise<SdkLogger> {
  if (installed) return installed;
  // Loaded here so the `report` command, which shares the activity code, skips the native module.
  const { Runtime } = await import('@temporalio/worker');
  const adapted = sdkLogger(logger);
  try {
    Runtime.install({
      logger: adapted,
      telemetryOptions: {
        // Core's own log lines come through the same logger, so stdout has one format.
        logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } },
        ...(config.METRICS_BIND_ADDRESS
          ? { metrics: { prometheus: { bindAddress: config.METRICS_BIND_ADDRESS, histogramBucketOverrides: BUCKETS } } }
          : {}),
      },
    });
    installed = adapted;
  } catch (err) {
    if (!(err instanceof IllegalStateError)) throw err;
    // Something else (a test harness) installed the Runtime first: keep it rather than fail.
    installed = Runtime.instance().logger;
    logger.warn(
      { reason: err.message },
      'Runtime already installed: its logger and METRICS_BIND_ADDRESS stay as they were',
    );
  }
  return installed;
}

export type CostExplorerApi = 'GetCostAndUsage' | 'GetCostAndUsageWithResources';

/**
 * Business metrics and log lines for the current activity, through the SDK's meter and logger:
 * metrics land on the worker's Prometheus endpoint tagged with namespace, task queue and activity
 * type, logs carry workflowId and runId. Outside an activity (the `report` command) both are no-ops.
 */
export function activityTelemetry() {
  const context = asyncLocalStorage.getStore();
  const meter = context?.metricMeter ?? noopMetricMeter;
  const log = context?.log;
  return {
    costExplorerCall(api: CostExplorerApi) {
      meter.createCounter(METRICS.costExplorerCalls, 'calls', 'Cost Explorer requests sent').add(1, { api });
    },
    /** A resource-level query refused: that part of the report is service level (counted by error name). */
    resourceLevelRefused(leaseUuid: string, refusal: { error: string; message: string }) {
      meter
        .createCounter(
          METRICS.resourceLevelRefusals,
          'refusals',
          'Resource-level queries Cost Explorer refused (reports fell back to service level)',
        )
        .add(1, { error: refusal.error });
      log?.warn('Resource-level data refused: the resource-level days are reported at service level', {
        leaseUuid,
        ...refusal,
      });
    },
    collected(
      leaseUuid: string,
      durationMs: number,
      { pages, calls, resourceLevel }: { pages: number; calls: number; resourceLevel: string },
    ) {
      meter
        .createHistogram(
          METRICS.collectionDuration,
          'float',
          's',
          'Time to read every Cost Explorer page of a collection attempt',
        )
        .record(durationMs / 1000);
      log?.info('Costs collected', { leaseUuid, durationMs: Math.round(durationMs), pages, calls, resourceLevel });
    },
    /**
     * The ISB dropped lease records that fail its own schema from a list page and said so in
     * `data.error` (leases-handler.ts getLeasesHandler, data/utils.ts parseResults): those leases
     * exist but can be neither listed nor looked up until the ISB's data is repaired.
     */
    isbInvalidRecords(error: string): number {
      // formatErrors in the same file: `${count} invalid records found: …`.
      const count = Number(/^(\d+) invalid records? found/.exec(error)?.[1] ?? 1);
      meter
        .createCounter(
          METRICS.isbInvalidRecords,
          'records',
          'Lease records the ISB API dropped from a list for failing its own schema',
        )
        .add(count);
      log?.warn('The ISB API dropped lease records that fail its own schema', {
        count,
        isbError: error.slice(0, 2000),
      });
      return count;
    },
    leaseFromEarlierRun(leaseUuid: string) {
      log?.warn(
        'The ISB API no longer has the lease (deleted after its leases.ttl?): using the lease as an earlier run looked it up',
        { leaseUuid },
      );
    },
    reportWritten(leaseUuid: string, report: { key: string; rowCount: number; total: string; version: number }) {
      meter.createHistogram(METRICS.reportRows, 'int', 'rows', 'Rows per written report').record(report.rowCount);
      // A histogram, not a last-writer-wins gauge: its _sum is the USD reported, its _count the reports.
      // A float for dashboards; the exact decimal stays in the CSV and the event.
      meter
        .createHistogram(METRICS.reportCost, 'float', 'USD', 'Total cost per written report')
        .record(Number(report.total));
      log?.info('Report written', { leaseUuid, ...report });
    },
  };
}

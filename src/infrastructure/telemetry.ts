import { asyncLocalStorage } from '@temporalio/activity';
import { IllegalStateError, noopMetricMeter, type Logger, type LogLevel, type LogMetadata } from '@temporalio/common';
import type { Config } from './config';

const LOG_LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

/** Histogram buckets for our own metrics (the exporter's defaults stop at 10 000). */
const BUCKETS = {
  lease_costs_collection_duration: [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000],
  lease_costs_report_rows: [0, 10, 100, 1_000, 10_000, 100_000, 1_000_000],
};

const jsonValue = (_key: string, value: unknown) => {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
};

/**
 * One JSON object per line: time, level, message, then the SDK's metadata (workflowId, runId,
 * activityType, taskQueue…) as top-level fields so log tooling can filter on them.
 */
export function formatLogLine(entry: { level: LogLevel; message: string; timestampNanos: bigint; meta?: LogMetadata }): string {
  // The task token completes the activity from outside: a handle, not something for log storage.
  const { taskToken: _token, time: _t, level: _l, message: _m, ...meta } = entry.meta ?? {};
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  return JSON.stringify({ time, level: entry.level, message: entry.message, ...meta }, jsonValue);
}

let installed: Promise<Logger> | undefined;

/**
 * Installs the SDK Runtime with JSON logs on stdout (LOG_LEVEL, default INFO) and, when
 * METRICS_BIND_ADDRESS is set, a Prometheus `/metrics` endpoint. Call it before any
 * NativeConnection or Worker exists; later calls return the same logger.
 */
export function installRuntime(config: Pick<Config, 'METRICS_BIND_ADDRESS'>, env: NodeJS.ProcessEnv = process.env): Promise<Logger> {
  installed ??= (async () => {
    // Loaded here so the `report` command, which shares the activity code, skips the native module.
    const { DefaultLogger, Runtime } = await import('@temporalio/worker');
    const wanted = (env.LOG_LEVEL ?? 'INFO').trim().toUpperCase() as LogLevel;
    const level = LOG_LEVELS.includes(wanted) ? wanted : 'INFO';
    const logger = new DefaultLogger(level, (entry) => void process.stdout.write(`${formatLogLine(entry)}\n`));
    try {
      Runtime.install({
        logger,
        telemetryOptions: {
          // Core's own log lines come through the same logger, so stdout has one format.
          logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } },
          ...(config.METRICS_BIND_ADDRESS
            ? { metrics: { prometheus: { bindAddress: config.METRICS_BIND_ADDRESS, histogramBucketOverrides: BUCKETS } } }
            : {}),
        },
      });
    } catch (err) {
      if (!(err instanceof IllegalStateError)) throw err;
      // Something else (a test harness) installed the Runtime first: keep it rather than fail.
      const existing = Runtime.instance().logger;
      existing.warn('Runtime already installed: JSON logs and METRICS_BIND_ADDRESS not applied', { reason: err.message });
      return existing;
    }
    if (level !== wanted) logger.warn(`LOG_LEVEL ${JSON.stringify(env.LOG_LEVEL)} is not one of ${LOG_LEVELS.join(', ')}: using INFO`);
    return logger;
  })();
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
      meter.createCounter('lease_costs_cost_explorer_calls', 'calls', 'Cost Explorer requests sent').add(1, { api });
    },
    collected(leaseUuid: string, durationMs: number, { pages, calls, resourceLevel }: { pages: number; calls: number; resourceLevel: string }) {
      meter.createHistogram('lease_costs_collection_duration', 'int', 'ms', 'Time to read every Cost Explorer page of a collection attempt')
        .record(Math.round(durationMs));
      log?.info('Costs collected', { leaseUuid, durationMs: Math.round(durationMs), pages, calls, resourceLevel });
    },
    reportWritten(leaseUuid: string, report: { key: string; rowCount: number; total: string; version: number }) {
      meter.createHistogram('lease_costs_report_rows', 'int', 'rows', 'Rows per written report').record(report.rowCount);
      // A float for dashboards; the exact decimal stays in the CSV and the event.
      meter.createGauge('lease_costs_lease_total_cost', 'float', 'USD', 'Total cost of the last report written').set(Number(report.total));
      log?.info('Report written', { leaseUuid, ...report });
    },
  };
}

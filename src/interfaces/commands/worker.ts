import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../../infrastructure/config';
import { createLogger } from '../../infrastructure/logging';
import { temporalConnectionOptions } from '../../infrastructure/temporal-connection';
import { installRuntime } from '../../infrastructure/telemetry';
import { NamespaceSetupError, setUpNamespace } from '../../infrastructure/namespace-setup';
import { createWorker } from '../worker-composition';
import { CliError, EXIT_BAD_CONFIG, temporalUnreachable } from '../cli-error';

/**
 * Runs until SIGINT/SIGTERM; the SDK then drains in-flight tasks before `run()` resolves. With
 * `setup`, first registers the search attributes and installs the reconcile schedule (idempotent:
 * every worker of a deployment may do it at each start).
 */
export async function runWorker(config: Config, opts: { setup?: boolean } = {}): Promise<void> {
  const logger = createLogger(config);
  await installRuntime(config, logger);
  const connection = await NativeConnection.connect(temporalConnectionOptions(config)).catch((err: unknown) => {
    throw temporalUnreachable(config.TEMPORAL_ADDRESS, err);
  });
  try {
    if (opts.setup) {
      const done = await setUpNamespace(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), config).catch(
        (err: unknown) => {
          throw err instanceof NamespaceSetupError ? new CliError(err.message, EXIT_BAD_CONFIG) : err;
        },
      );
      logger.info(
        {
          namespace: config.TEMPORAL_NAMESPACE,
          searchAttributesAdded: done.searchAttributesAdded,
          schedule: done.schedule.scheduleId,
          scheduleOutcome: done.schedule.outcome,
        },
        'Namespace set up',
      );
    }
    const worker = await createWorker(config, { connection });
    logger.info(
      {
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        address: config.TEMPORAL_ADDRESS,
        ...(config.METRICS_BIND_ADDRESS ? { metrics: `http://${config.METRICS_BIND_ADDRESS}/metrics` } : {}),
      },
      'Worker started',
    );
    await worker.run();
  } finally {
    await connection.close();
  }
}

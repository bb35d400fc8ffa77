import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../../infrastructure/config';
import { createLogger } from '../../infrastructure/logging';
import { temporalConnectionOptions } from '../../infrastructure/temporal-connection';
import { installRuntime } from '../../infrastructure/telemetry';
import { createWorker } from '../worker-composition';
import { temporalUnreachable } from '../cli-error';

/** Runs until SIGINT/SIGTERM; the SDK then drains in-flight tasks before `run()` resolves. */
export async function runWorker(config: Config): Promise<void> {
  const logger = createLogger(config);
  await installRuntime(config, logger);
  const connection = await NativeConnection.connect(temporalConnectionOptions(config)).catch((err: unknown) => {
    throw temporalUnreachable(config.TEMPORAL_ADDRESS, err);
  });
  try {
    const worker = await createWorker(config, { connection });
    logger.info({
      taskQueue: config.TEMPORAL_TASK_QUEUE, address: config.TEMPORAL_ADDRESS,
      ...(config.METRICS_BIND_ADDRESS ? { metrics: `http://${config.METRICS_BIND_ADDRESS}/metrics` } : {}),
    }, 'Worker started');
    await worker.run();
  } finally {
    await connection.close();
  }
}

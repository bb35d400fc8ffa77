import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config';
import { createWorker } from '../worker';

/** Runs until SIGINT/SIGTERM; the SDK then drains in-flight tasks before `run()` resolves. */
export async function runWorker(config: Config): Promise<void> {
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  try {
    const worker = await createWorker(config, { connection });
    console.log(JSON.stringify({ msg: 'worker started', taskQueue: config.TEMPORAL_TASK_QUEUE, address: config.TEMPORAL_ADDRESS }));
    await worker.run();
  } finally {
    await connection.close();
  }
}

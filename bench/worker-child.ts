// One production worker process for the burst benchmark: `lease-costs worker`'s wiring
// (createWorker with the production activity deps and config from the environment), except that it
// loads the workflow bundle the benchmark built once, to spare the CPU a bundle per process.
// Stops on SIGTERM/SIGINT (the SDK Runtime's default shutdown signals), draining in-flight tasks.
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from '../src/infrastructure/config';
import { createWorker } from '../src/interfaces/worker-composition';

Runtime.install({ logger: new DefaultLogger('WARN') });
const config = loadConfig(process.env, ['worker']);
const codePath = process.env.BENCH_WORKFLOW_BUNDLE;
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
try {
  const worker = await createWorker(config, {
    connection,
    workerOptions: codePath ? { workflowBundle: { codePath } } : {},
  });
  process.stdout.write(`worker ${process.pid} polling ${config.TEMPORAL_TASK_QUEUE}\n`);
  await worker.run();
} finally {
  await connection.close();
}

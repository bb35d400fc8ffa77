import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { createStagingStore, createPresigner } from '../activities/s3';
import { callRateLimiter, costExplorerClient, eventBridgeClient, jwtSecretLoader, s3Client } from './aws';
import { dataConverterFor } from './codec';
import type { Config } from './config';

/** Production wiring: real AWS clients from the SDK's default chain and the validated config. */
export function productionActivityDeps(config: Config): ActivityDeps {
  const s3 = s3Client();
  const s3Deps = {
    s3, bucket: config.S3_BUCKET_NAME!, keyPrefix: config.S3_KEY_PREFIX, urlExpiryDays: config.PRESIGNED_URL_EXPIRY_DAYS,
  };
  return {
    isb: { baseUrl: config.ISB_API_BASE_URL!, loadSecret: jwtSecretLoader(config) },
    costExplorer: {
      costExplorer: costExplorerClient(config.COST_EXPLORER_ROLE_ARN!),
      roleArn: config.COST_EXPLORER_ROLE_ARN!,
      staging: createStagingStore(s3, config.S3_BUCKET_NAME!),
      keyPrefix: config.S3_KEY_PREFIX,
      acquireCallSlot: callRateLimiter(config.COST_EXPLORER_MAX_RPS),
    },
    s3: s3Deps,
    eventBridge: { eventBridge: eventBridgeClient(), busName: config.EVENT_BUS_NAME!, presign: createPresigner(s3Deps) },
  };
}

export const workflowsPath = new URL('../workflows/index.ts', import.meta.url).pathname;

export async function createWorker(
  config: Config,
  opts: { connection?: NativeConnection; deps?: ActivityDeps; workerOptions?: Partial<WorkerOptions> } = {},
): Promise<Worker> {
  const connection = opts.connection ?? (await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS }));
  return Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: createActivities(opts.deps ?? productionActivityDeps(config)),
    dataConverter: dataConverterFor(config.PAYLOAD_ENCRYPTION_KEYS),
    ...(opts.workerOptions?.workflowBundle ? {} : { workflowsPath }),
    ...opts.workerOptions,
  });
}

import { randomBytes } from 'node:crypto';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/infrastructure/config';
import { createWorker, type LeaseCostsWorker } from '../../src/interfaces/worker-composition';
import {
  startFakeCostExplorer,
  type FakeCostExplorer,
  type FakeCostExplorerOptions,
} from '../../support/fakes/cost-explorer';
import { startFakeIsbApi, type FakeIsbApi } from '../../support/fakes/isb-api';
import { awsEnvFor, clientConfig, createBucket, createEventCapture, type EventCapture } from '../../support/aws';
import { REPORT_PUBLISHED_DETAIL_TYPE } from '../../src/domain/events';
import { testClient, uniqueTaskQueue, workerOptionsBase } from './temporal';

export const ROLE_ARN = 'arn:aws:iam::999988887777:role/IsbCostExplorerAccess';

export interface Stack {
  ce: FakeCostExplorer;
  isb: FakeIsbApi;
  config: Config;
  client: Client;
  s3: S3Client;
  /** LeaseCostsGenerated, as its consumers receive it. */
  events: EventCapture;
  /** LeaseCostsReportPublished, the report's details. */
  published: EventCapture;
  motoEndpoint: string;
  /** Starts (or restarts) the real worker with production wiring pointed at the stand-ins. */
  startWorker(): Promise<LeaseCostsWorker>;
  stopWorker(): Promise<void>;
  getObject(key: string): Promise<{ body: Buffer; checksumSha256?: string }>;
  stop(): Promise<void>;
}

/**
 * The whole product against local stand-ins: moto (S3, STS, EventBridge, Secrets Manager), the
 * Cost Explorer and ISB fakes, the shared dev server, and the production worker wiring, which
 * finds every endpoint through the standard AWS_ENDPOINT_URL_* variables.
 */
export async function startStack(
  opts: {
    ce?: FakeCostExplorerOptions;
    env?: Record<string, string>;
    /** Another dev server than the shared one. */ temporalAddress?: string;
  } = {},
): Promise<Stack> {
  const temporalAddress = opts.temporalAddress ?? inject('temporalAddress');
  const motoEndpoint = inject('motoEndpoint');
  const id = randomBytes(4).toString('hex');
  const jwtSecret = `isb-secret-${randomBytes(16).toString('hex')}`;
  const [ce, isb] = await Promise.all([startFakeCostExplorer(opts.ce), startFakeIsbApi({ jwtSecret })]);

  Object.assign(process.env, awsEnvFor(motoEndpoint, { AWS_ENDPOINT_URL_COST_EXPLORER: ce.endpoint }));
  const bucket = `lease-costs-${id}`;
  const busName = `isb-${id}`;
  const secretName = `isb/jwt-${id}`;
  await createBucket(motoEndpoint, bucket);
  const [events, published] = await Promise.all([
    createEventCapture(motoEndpoint, { busName }),
    createEventCapture(motoEndpoint, { busName, detailType: REPORT_PUBLISHED_DETAIL_TYPE }),
  ]);
  const sm = new SecretsManagerClient(clientConfig(motoEndpoint));
  await sm.send(new CreateSecretCommand({ Name: secretName, SecretString: jwtSecret }));
  sm.destroy();

  const config = loadConfig(
    {
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_TASK_QUEUE: uniqueTaskQueue('stack'),
      COST_EXPLORER_ROLE_ARN: ROLE_ARN,
      S3_BUCKET_NAME: bucket,
      S3_KEY_PREFIX: 'reports/',
      EVENT_BUS_NAME: busName,
      ISB_API_BASE_URL: isb.endpoint,
      ISB_JWT_SECRET_PATH: secretName,
      DATABASE_URL: inject('ledgerUrl'),
      ...opts.env,
    },
    ['worker'],
  );

  const s3 = new S3Client(clientConfig(motoEndpoint));
  let worker: LeaseCostsWorker | undefined;
  let running: Promise<void> | undefined;

  const stack: Stack = {
    ce,
    isb,
    config,
    s3,
    events,
    published,
    motoEndpoint,
    client: testClient(temporalAddress),
    async startWorker() {
      await stack.stopWorker();
      const base = await workerOptionsBase(temporalAddress);
      worker = await createWorker(config, {
        connection: base.connection,
        workerOptions: { workflowBundle: base.workflowBundle },
      });
      running = worker.run();
      return worker;
    },
    async stopWorker() {
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      worker = undefined;
      running = undefined;
    },
    async getObject(key) {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = Buffer.from(await res.Body!.transformToByteArray());
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
      return { body, checksumSha256: head.ChecksumSHA256 };
    },
    async stop() {
      await stack.stopWorker();
      events.close();
      published.close();
      s3.destroy();
      await Promise.allSettled([ce.close(), isb.close()]);
    },
  };
  return stack;
}

/** Daily records over [start, end) for one resource. */
export function dailyCosts(args: {
  accountId: string;
  start: string;
  end: string;
  service: string;
  resourceId: string;
  region: string;
  amount: string;
}) {
  const items = [];
  for (
    let d = new Date(`${args.start}T00:00:00Z`);
    d < new Date(`${args.end}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + 1)
  ) {
    items.push({
      accountId: args.accountId,
      date: d.toISOString().slice(0, 10),
      service: args.service,
      resourceId: args.resourceId,
      region: args.region,
      amount: args.amount,
    });
  }
  return items;
}

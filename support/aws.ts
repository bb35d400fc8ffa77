import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { checkEventContract } from './events';

export const TEST_REGION = 'us-east-1';
/** moto's default account. */
export const TEST_ACCOUNT_ID = '123456789012';

/** The environment the app would get when pointed at moto (merge into `process.env` or a child's env). */
export function awsEnvFor(motoEndpoint: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_ENDPOINT_URL_S3: motoEndpoint,
    AWS_ENDPOINT_URL_STS: motoEndpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: motoEndpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: motoEndpoint,
    AWS_ENDPOINT_URL_SQS: motoEndpoint,
    ...overrides,
  };
}

/** Config for constructing SDK clients against moto directly in tests. */
export function clientConfig(motoEndpoint: string) {
  return {
    region: TEST_REGION,
    endpoint: motoEndpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    forcePathStyle: true,
  };
}

export async function createBucket(endpoint: string, name: string): Promise<void> {
  const s3 = new S3Client(clientConfig(endpoint));
  try {
    await s3.send(new CreateBucketCommand({ Bucket: name }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw err;
  } finally {
    s3.destroy();
  }
}

/** An EventBridge event as delivered to an SQS target. */
export interface EventEnvelope<D = Record<string, unknown>> {
  version: string;
  id: string;
  'detail-type': string;
  source: string;
  /** Real EventBridge sets it; moto's SQS delivery leaves it out. */
  account?: string;
  time: string;
  region: string;
  resources: string[];
  detail: D;
}

export interface EventCapture {
  busName: string;
  queueUrl: string;
  /**
   * Everything that arrived so far, waiting until nothing new has come for `waitMs`; consumed
   * messages are deleted. Throws on an event that breaks its contract (checkEventContract).
   */
  receiveAll<D = Record<string, unknown>>(waitMs?: number): Promise<EventEnvelope<D>[]>;
  close(): void;
}

let captureSeq = 0;

/**
 * Bus + SQS queue + rule (our source and detail-type) → queue, so a test can read what the app
 * emitted. Every event read is checked against its contract: a LeaseCostsGenerated its consumer
 * would refuse fails the test that reads it.
 */
export async function createEventCapture(
  endpoint: string,
  opts: { busName: string; source?: string; detailType?: string },
): Promise<EventCapture> {
  const { busName, source = 'isb-costs', detailType = 'LeaseCostsGenerated' } = opts;
  const cfg = clientConfig(endpoint);
  const events = new EventBridgeClient(cfg);
  const sqs = new SQSClient(cfg);

  try {
    await events.send(new CreateEventBusCommand({ Name: busName }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceAlreadyExistsException') throw err;
  }
  // Queue and rule names: 80 / 64 chars max, [A-Za-z0-9_.-].
  const suffix = `${process.pid}-${++captureSeq}-${Date.now().toString(36)}`;
  const queueName = `capture-${busName}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 50) + `-${suffix}`;
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  if (!QueueUrl) throw new Error('CreateQueue returned no QueueUrl');
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  const queueArn = attrs.Attributes?.QueueArn;
  if (!queueArn) throw new Error('GetQueueAttributes returned no QueueArn');

  const ruleName = `capture-${suffix}`;
  await events.send(
    new PutRuleCommand({
      Name: ruleName,
      EventBusName: busName,
      EventPattern: JSON.stringify({ source: [source], 'detail-type': [detailType] }),
      State: 'ENABLED',
    }),
  );
  const targets = await events.send(
    new PutTargetsCommand({ Rule: ruleName, EventBusName: busName, Targets: [{ Id: 'capture', Arn: queueArn }] }),
  );
  if (targets.FailedEntryCount) throw new Error(`PutTargets failed: ${JSON.stringify(targets.FailedEntries)}`);

  return {
    busName,
    queueUrl: QueueUrl,
    async receiveAll<D>(waitMs = 1_000) {
      const out: EventEnvelope<D>[] = [];
      let deadline = Date.now() + waitMs;
      for (;;) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        const waitSeconds = Math.min(20, Math.floor(remaining / 1000));
        const res = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: waitSeconds,
            VisibilityTimeout: 30,
          }),
        );
        const messages = res.Messages ?? [];
        if (messages.length === 0) {
          // Sub-second remainders cannot long-poll: poll briefly instead.
          if (waitSeconds === 0) await new Promise((r) => setTimeout(r, Math.min(100, remaining)));
          continue;
        }
        for (const m of messages) {
          const event = JSON.parse(m.Body ?? 'null') as EventEnvelope<D>;
          checkEventContract(event);
          out.push(event);
        }
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl,
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
        deadline = Date.now() + waitMs;
      }
      return out;
    },
    close() {
      events.destroy();
      sqs.destroy();
    },
  };
}

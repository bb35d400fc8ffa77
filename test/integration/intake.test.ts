// `lease-costs intake` on moto's SQS: the webhook's door (validation, canonical input, id rule)
// behind a queue, deleting a message only once its run started or exists.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { workflowIdFor } from '../../src/infrastructure/client';
import { startTemporalDevServer, type DevServer } from '../../support/dev-server';
import { startIntake, type RunningIntake } from '../../src/interfaces/sqs-intake';
import { spawnManaged } from '../../support/tools';
import { awsEnvFor, clientConfig } from '../../support/aws';
import { ISB_TERMINATION_REASONS, leaseTerminatedEvent } from '../../support/events';
import { runCli } from '../helpers/cli';
import { testClient, uniqueTaskQueue } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';
import { builtBin } from '../helpers/cli';

const config = { TEMPORAL_TASK_QUEUE: uniqueTaskQueue('intake'), BILLING_PADDING_HOURS: 8, RERUN_WINDOW_DAYS: 30 };
let sqs: SQSClient;

beforeAll(() => {
  sqs = new SQSClient(clientConfig(inject('motoEndpoint')));
});
afterAll(() => sqs?.destroy());

/** A queue whose redrive policy moves a message to its DLQ after 2 receives; 1 s visibility timeout. */
async function queueWithDlq() {
  const name = `intake-${randomUUID().slice(0, 8)}`;
  const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }))).QueueUrl!;
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn!;
  const url = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          VisibilityTimeout: '1',
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
        },
      }),
    )
  ).QueueUrl!;
  return { url, dlq };
}

const counts = async (url: string) => {
  const a = (
    await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    )
  ).Attributes!;
  return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible);
};
const dlqBodies = async (dlq: string) =>
  (
    (await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 })))
      .Messages ?? []
  ).map((m) => m.Body);

/** The ISB's envelope (source InnovationSandbox-ndx), ended an hour ago. */
const envelope = (opts: Parameters<typeof leaseTerminatedEvent>[0] = {}) =>
  leaseTerminatedEvent({ time: new Date(Date.now() - 3600_000).toISOString(), ...opts });
const send = (url: string, body: unknown) =>
  sqs.send(
    new SendMessageCommand({ QueueUrl: url, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }),
  );

function run(client: Client, queueUrl: string) {
  const logs: Record<string, unknown>[] = [];
  const intake: RunningIntake = startIntake({
    config,
    client,
    queueUrl,
    sqs,
    waitSeconds: 1,
    backoffMs: 500,
    log: (e) => logs.push(e),
  });
  return { intake, logs };
}

describe('lease-costs intake', () => {
  it('starts a run for a good message and deletes it; a duplicate is deleted without a second run', async () => {
    const { url, dlq } = await queueWithDlq();
    const client = testClient();
    const { intake, logs } = run(client, url);
    try {
      const event = envelope();
      await send(url, event);
      await waitFor(async () => (logs.some((l) => l.msg === 'started') ? true : undefined), 15_000, 'started');
      const handle = client.workflow.getHandle(workflowIdFor(event.detail.leaseId.uuid));
      const { runId } = await handle.describe();
      await send(url, { ...event, id: randomUUID() }); // EventBridge delivers at least once
      await waitFor(async () => (logs.some((l) => l.msg === 'duplicate') ? true : undefined), 15_000, 'duplicate');
      expect((await handle.describe()).runId).toBe(runId);
      await waitFor(async () => ((await counts(url)) === 0 ? true : undefined), 10_000, 'queue empty');
      expect(await dlqBodies(dlq)).toEqual([]);
    } finally {
      await intake.stop();
    }
  });

  it('starts a run for every reason the ISB gives, from any InnovationSandbox-<namespace> source, and the run keeps the reason', async () => {
    const { url, dlq } = await queueWithDlq();
    const client = testClient();
    const { intake, logs } = run(client, url);
    try {
      const events = ISB_TERMINATION_REASONS.map((reason, i) =>
        envelope({ reason, source: i % 2 ? 'InnovationSandbox-ndx' : 'InnovationSandbox-test' }),
      );
      for (const e of events) await send(url, e);
      await waitFor(
        async () => (logs.filter((l) => l.msg === 'started').length === events.length ? true : undefined),
        20_000,
        'every run started',
      );
      for (const e of events) {
        const history = await client.workflow.getHandle(workflowIdFor(e.detail.leaseId.uuid)).fetchHistory();
        const [payload] = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads!;
        expect(JSON.parse(Buffer.from(payload!.data!).toString('utf8')).terminationReason).toEqual(e.detail.reason);
      }
      await waitFor(async () => ((await counts(url)) === 0 ? true : undefined), 10_000, 'queue empty');
      expect(await dlqBodies(dlq)).toEqual([]);
    } finally {
      await intake.stop();
    }
  });

  it('leaves a poison message, which the redrive policy moves to the dead-letter queue; nothing starts', async () => {
    const { url, dlq } = await queueWithDlq();
    const client = testClient();
    const { intake, logs } = run(client, url);
    try {
      const bad = envelope();
      (bad.detail as { accountId: string }).accountId = 'not-an-account';
      await send(url, bad);
      await send(url, 'this is not JSON');
      const moved = await waitFor(
        async () => {
          const bodies = [...(await dlqBodies(dlq))];
          return bodies.length === 2 ? bodies : undefined;
        },
        20_000,
        'two messages in the DLQ',
      );
      expect(moved).toContain('this is not JSON');
      expect(await counts(url)).toBe(0);
      expect(
        logs.filter((l) => l.msg === 'invalid LeaseTerminated event; left for the dead-letter queue').length,
      ).toBeGreaterThanOrEqual(1);
      await expect(client.workflow.getHandle(workflowIdFor(bad.detail.leaseId.uuid)).describe()).rejects.toThrow();
    } finally {
      await intake.stop();
    }
  });

  // Its waits (20 s, 4 s, 30 s, 10 s) and two dev server starts take more than the default 60 s.
  it('leaves messages queued while Temporal is down (not in the DLQ) and starts them when it returns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lease-costs-intake-'));
    let server: DevServer = await startTemporalDevServer({ uiPort: false, dbFile: join(dir, 'temporal.sqlite') });
    const connection = Connection.lazy({ address: server.address, connectTimeout: '2 seconds' });
    const client = new Client({ connection });
    const { url, dlq } = await queueWithDlq();
    const { intake, logs } = run(client, url);
    try {
      const { port } = server;
      await server.stop();
      const event = envelope();
      await send(url, event);
      await waitFor(
        async () => (logs.some((l) => l.msg === 'Temporal is unreachable; message left for later') ? true : undefined),
        20_000,
        'unavailable',
      );
      await sleep(4_000); // several visibility timeouts: a receiving loop would have used up maxReceiveCount
      expect(await counts(url)).toBe(1);
      expect(await dlqBodies(dlq)).toEqual([]);
      server = await startTemporalDevServer({ port, uiPort: false, dbFile: join(dir, 'temporal.sqlite') });
      await waitFor(
        async () => (logs.some((l) => l.msg === 'started') ? true : undefined),
        30_000,
        'started after the outage',
      );
      expect((await client.workflow.getHandle(workflowIdFor(event.detail.leaseId.uuid)).describe()).type).toBe(
        'leaseCostsWorkflow',
      );
      await waitFor(async () => ((await counts(url)) === 0 ? true : undefined), 10_000, 'queue empty');
    } finally {
      await intake.stop();
      await connection.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('as the CLI: starts runs from the queue, and on SIGTERM stops receiving and exits 0', async () => {
    const { url } = await queueWithDlq();
    const event = envelope();
    await send(url, event);
    const proc = spawnManaged(process.execPath, [builtBin(), 'intake', '--queue-url', url], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...awsEnvFor(inject('motoEndpoint')),
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_TASK_QUEUE: config.TEMPORAL_TASK_QUEUE,
      },
    });
    let out = '';
    proc.process.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    try {
      await waitFor(
        async () => (out.includes('"msg":"started"') ? true : undefined),
        30_000,
        'the CLI to start the run',
      );
      expect(out).toContain(event.detail.leaseId.uuid);
      const t0 = Date.now();
      proc.process.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000); // the 20 s long poll is abandoned, not waited out
      expect(out).toContain('"msg":"shutting down"');
    } finally {
      await proc.stop();
    }
  });

  it('schedule install and intake answer an unreachable Temporal or a bad queue URL with their exit codes', async () => {
    const unreachable = await runCli(['schedule', 'install'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(unreachable.code).toBe(4);
    expect(unreachable.stderr).toContain('cannot reach Temporal');
    const badUrl = await runCli(['intake', '--queue-url', 'not a url'], {});
    expect(badUrl.code).not.toBe(0);
    expect(badUrl.stderr).toContain('must be an SQS queue URL');
  });
});

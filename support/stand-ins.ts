// Stand-ins for everything a deployed lease-costs talks to besides Temporal, for running the image
// against (scripts/image-check.sh): the Cost Explorer and ISB API fakes and the embedded ledger on
// loopback, and in moto (at the URL given) the bucket, event bus, JWT secret and an SQS queue. Seeds
// leases and costs, queues one lease's LeaseTerminated, prints the environment as KEY=VALUE lines, then serves until SIGINT/SIGTERM.
//
//   node --import tsx support/stand-ins.ts http://127.0.0.1:<moto port>
import { randomBytes, randomUUID } from 'node:crypto';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { untilSignal } from '../src/interfaces/signals';
import { awsEnvFor, clientConfig, createBucket } from './aws';
import { leaseTerminatedEvent } from './events';
import { startFakeCostExplorer } from './fakes/cost-explorer';
import { startFakeIsbApi } from './fakes/isb-api';
import { startEmbeddedLedger } from './ledger-server';

const DAY = 24 * 3600_000;
const isoSecond = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

const moto = process.argv[2];
if (!moto || !URL.canParse(moto)) {
  console.error('usage: node --import tsx support/stand-ins.ts <moto endpoint URL>');
  process.exit(2);
}
const id = randomBytes(4).toString('hex');
const jwtSecret = `isb-secret-${randomBytes(16).toString('hex')}`;
const [ce, isb, ledger] = await Promise.all([
  startFakeCostExplorer(),
  startFakeIsbApi({ jwtSecret }),
  startEmbeddedLedger(),
]);
const bucket = `lease-costs-${id}`;
const busName = `isb-${id}`;
const secretName = `isb/jwt-${id}`;
await createBucket(moto, bucket);
const eventBridge = new EventBridgeClient(clientConfig(moto));
await eventBridge.send(new CreateEventBusCommand({ Name: busName }));
eventBridge.destroy();
const sm = new SecretsManagerClient(clientConfig(moto));
await sm.send(new CreateSecretCommand({ Name: secretName, SecretString: jwtSecret }));
sm.destroy();
const now = Date.now();
/** Ended two days ago, to arrive by the webhook; ended now, to arrive by the queue; ended ten days ago and never arrived, for backfill. */
const leases = {
  WEBHOOK: {
    uuid: randomUUID(),
    userEmail: `webhook.${id}@example.gov.uk`,
    accountId: '271828182845',
    endDate: isoSecond(now - 2 * DAY),
  },
  QUEUED: {
    uuid: randomUUID(),
    userEmail: `queued.${id}@example.gov.uk`,
    accountId: '314159265358',
    endDate: isoSecond(now),
  },
  MISSED: {
    uuid: randomUUID(),
    userEmail: `missed.${id}@example.gov.uk`,
    accountId: '141421356237',
    endDate: isoSecond(now - 10 * DAY),
  },
};
for (const lease of Object.values(leases)) {
  const startDate = isoSecond(Date.parse(lease.endDate) - 2 * DAY);
  isb.addLease({ ...lease, startDate, status: 'Expired' });
  for (let t = Date.parse(startDate); t < Date.parse(lease.endDate) + DAY; t += DAY) {
    ce.addCosts([
      {
        accountId: lease.accountId,
        date: day(t),
        service: 'AWS Lambda',
        resourceId: `arn:aws:lambda:eu-west-2:${lease.accountId}:function:f`,
        region: 'eu-west-2',
        amount: '0.25',
      },
    ]);
  }
}
// The queued lease's LeaseTerminated, as the EventBridge rule would deliver it to the intake's queue.
const sqs = new SQSClient(clientConfig(moto));
const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `intake-${id}` }))).QueueUrl!;
await sqs.send(
  new SendMessageCommand({
    QueueUrl: queueUrl,
    MessageBody: JSON.stringify(
      leaseTerminatedEvent({
        uuid: leases.QUEUED.uuid,
        userEmail: leases.QUEUED.userEmail,
        accountId: leases.QUEUED.accountId,
        time: leases.QUEUED.endDate,
      }),
    ),
  }),
);
sqs.destroy();

const report = { account: '161803398874', start: day(now - 3 * DAY), end: day(now - DAY) };
for (let t = Date.parse(report.start); t < Date.parse(report.end); t += DAY) {
  ce.addCosts([
    {
      accountId: report.account,
      date: day(t),
      service: 'AWS Lambda',
      resourceId: 'fn',
      region: 'us-east-1',
      amount: '1.0000000001',
    },
  ]);
}

const env: Record<string, string> = {
  ...awsEnvFor(moto, { AWS_ENDPOINT_URL_COST_EXPLORER: ce.endpoint }),
  COST_EXPLORER_ROLE_ARN: 'arn:aws:iam::999988887777:role/IsbCostExplorerAccess',
  S3_BUCKET_NAME: bucket,
  EVENT_BUS_NAME: busName,
  ISB_API_BASE_URL: isb.endpoint,
  ISB_JWT_SECRET_PATH: secretName,
  DATABASE_URL: ledger.url,
};
const facts: Record<string, string> = {
  QUEUE_URL: queueUrl,
  ...Object.fromEntries(
    Object.entries(leases).flatMap(([k, l]) => [
      [`${k}_UUID`, l.uuid],
      [`${k}_EMAIL`, l.userEmail],
      [`${k}_ACCOUNT`, l.accountId],
      [`${k}_END`, l.endDate],
    ]),
  ),
  REPORT_ACCOUNT: report.account,
  REPORT_START: report.start,
  REPORT_END: report.end,
  REPORT_TOTAL: ce.expectedTotal({
    accountId: report.account,
    start: report.start,
    end: report.end,
    recordType: 'Usage',
  }),
};
// One block for the containers' --env-file, one for the script; both KEY=VALUE, unquoted.
console.log(
  Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n'),
);
console.log('# facts');
console.log(
  Object.entries(facts)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n'),
);
console.log('# ready');

await untilSignal();
await Promise.allSettled([ce.close(), isb.close(), ledger.stop()]);

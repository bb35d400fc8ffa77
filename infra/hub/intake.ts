import { Duration, SecretValue } from 'aws-cdk-lib';
import {
  ApiDestination,
  Authorization,
  Connection,
  HttpMethod,
  type IEventBus,
  Match,
  Rule,
  type IRuleTarget,
} from 'aws-cdk-lib/aws-events';
import { ApiDestination as ApiDestinationTarget, SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  ISB_EVENT_SOURCE_PREFIX,
  LEASE_TERMINATED_DETAIL_TYPE,
  LEGACY_ISB_EVENT_SOURCE,
} from '../../src/domain/schemas';
import { WEBHOOK_PATH } from '../../src/interfaces/webhook-server';
import { acknowledge } from '../nag';

/** `api-destination`: EventBridge posts to the public webhook. `sqs`: a queue that `lease-costs intake` long-polls. */
export type IntakeMode = 'api-destination' | 'sqs';
export const INTAKE_MODES: readonly IntakeMode[] = ['api-destination', 'sqs'];

/** EventBridge retries a failed delivery for up to 24 hours (its maximum), then dead-letters it. */
const DELIVERY_RETRY = { retryAttempts: 185, maxEventAge: Duration.hours(24) };
/** A DLQ keeps messages for 14 days (SQS's maximum): time to notice the alarm and redrive. */
const DLQ_RETENTION = Duration.days(14);

const queueDefaults = { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true };

export interface IntakeProps {
  bus: IEventBus;
  mode: IntakeMode;
  /** api-destination: `https://<domain>` of the webhook, and the key it expects in x-api-key. */
  webhookBaseUrl: string;
  webhookApiKey: ISecret;
}

/** The ISB's LeaseTerminated events, delivered to lease-costs with retries and a dead-letter queue. */
export class LeaseTerminatedIntake extends Construct {
  readonly rule: Rule;
  /** Every queue where undelivered events end up: each has an alarm. */
  readonly deadLetterQueues: Queue[] = [];
  /** sqs mode: the queue `lease-costs intake` reads. */
  readonly queue?: Queue;

  constructor(scope: Construct, id: string, props: IntakeProps) {
    super(scope, id);
    const targetDlq = this.deadLetterQueue(
      'TargetDeadLetterQueue',
      'Events EventBridge could not deliver within 24 hours',
    );
    let target: IRuleTarget;
    if (props.mode === 'api-destination') {
      // EventBridge keeps the key in a Secrets Manager secret of its own; this one is the source of truth.
      const connection = new Connection(this, 'Connection', {
        description: 'lease-costs webhook API key',
        authorization: Authorization.apiKey('x-api-key', SecretValue.secretsManager(props.webhookApiKey.secretArn)),
      });
      const destination = new ApiDestination(this, 'Destination', {
        connection,
        endpoint: `${props.webhookBaseUrl}${WEBHOOK_PATH}`,
        httpMethod: HttpMethod.POST,
        rateLimitPerSecond: 20,
      });
      target = new ApiDestinationTarget(destination, { deadLetterQueue: targetDlq, ...DELIVERY_RETRY });
    } else {
      const queueDlq = this.deadLetterQueue(
        'QueueDeadLetterQueue',
        'Messages intake received 5 times without starting a run',
      );
      this.queue = new Queue(this, 'Queue', {
        ...queueDefaults,
        // Longer than one start takes, so a message is not handed to a second poller mid-start.
        visibilityTimeout: Duration.minutes(2),
        retentionPeriod: Duration.days(4),
        deadLetterQueue: { queue: queueDlq, maxReceiveCount: 5 },
      });
      target = new SqsQueue(this.queue, { deadLetterQueue: targetDlq, ...DELIVERY_RETRY });
    }
    this.rule = new Rule(this, 'Rule', {
      description: 'ISB LeaseTerminated events to lease-costs',
      eventBus: props.bus,
      // Exactly the sources the intake accepts (IsbEventSource), so nothing it would refuse fills a
      // dead-letter queue: the ISB's `InnovationSandbox-<namespace>`, and the `isb` of older descriptions.
      eventPattern: {
        source: Match.anyOf(Match.prefix(ISB_EVENT_SOURCE_PREFIX), Match.exactString(LEGACY_ISB_EVENT_SOURCE)),
        detailType: [LEASE_TERMINATED_DETAIL_TYPE],
      },
      targets: [target],
    });
  }

  private deadLetterQueue(id: string, holds: string): Queue {
    const queue = new Queue(this, id, { ...queueDefaults, retentionPeriod: DLQ_RETENTION });
    acknowledge(queue, { id: 'AwsSolutions-SQS3', reason: `This queue is itself a dead-letter queue: ${holds}` });
    this.deadLetterQueues.push(queue);
    return queue;
  }
}

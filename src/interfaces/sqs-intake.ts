import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { Client } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../infrastructure/logging';
import type { Config } from '../infrastructure/config';
import { isTemporalUnavailable, startFromEnvelope } from '../infrastructure/lease-run-start';

// `lease-costs intake`: LeaseTerminated events from an SQS queue that an EventBridge rule feeds,
// for operators who expose no HTTPS endpoint. Same door as the webhook (startFromEnvelope).

export type IntakeLog = (entry: { level: 'info' | 'warn' | 'error'; msg: string } & Record<string, unknown>) => void;
/** Entries to the process's one logger (pino), so the intake's lines look like every other process's. */
export const toLogger =
  (logger: Logger): IntakeLog =>
  ({ level, msg, ...fields }) =>
    logger[level](fields, msg);

const START_DEADLINE_MS = 10_000;
/** Pause after Temporal failed to answer, so an outage is not a hot loop of receives. */
const UNAVAILABLE_BACKOFF_MS = 5_000;

export interface IntakeOptions {
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'BILLING_PADDING_HOURS' | 'RERUN_WINDOW_DAYS'> &
    Partial<Pick<Config, 'WEBHOOK_MAX_EVENT_AGE_DAYS'>>;
  client: Client;
  queueUrl: string;
  sqs?: SQSClient;
  log: IntakeLog;
  /** Long-poll wait, 0..20 s. */
  waitSeconds?: number;
  backoffMs?: number;
}

export interface RunningIntake {
  /** Stops receiving, lets the messages in hand finish, and resolves. */
  stop(): Promise<void>;
  /** Resolves when the loop ends (after stop, or on a fatal SQS error, which it rethrows). */
  done: Promise<void>;
}

type Disposition = 'deleted' | 'left-invalid' | 'left-unavailable' | 'left-error';

/**
 * One message: deleted only once its lease's workflow started or was found to exist. An invalid
 * message stays, so the queue's redrive policy moves it to the dead-letter queue after
 * maxReceiveCount receives; with Temporal down it stays for a later receive.
 */
async function handle(opts: IntakeOptions, sqs: SQSClient, log: IntakeLog, message: Message): Promise<Disposition> {
  const common = {
    messageId: message.MessageId,
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
  };
  let body: unknown;
  try {
    body = JSON.parse(message.Body ?? '');
  } catch {
    log({ level: 'warn', msg: 'message is not JSON; left for the dead-letter queue', ...common });
    return 'left-invalid';
  }
  try {
    const outcome = await startFromEnvelope(opts.client, opts.config, body, { deadlineMs: START_DEADLINE_MS });
    if (outcome.status === 'invalid') {
      log({
        level: 'warn',
        msg: 'invalid LeaseTerminated event; left for the dead-letter queue',
        ...common,
        issues: outcome.issues,
      });
      return 'left-invalid';
    }
    await sqs.send(new DeleteMessageCommand({ QueueUrl: opts.queueUrl, ReceiptHandle: message.ReceiptHandle }));
    log({
      level: 'info',
      msg: outcome.status === 'started' ? 'started' : 'duplicate',
      ...common,
      leaseUuid: outcome.leaseUuid,
      workflowId: outcome.workflowId,
    });
    return 'deleted';
  } catch (err) {
    const unavailable = isTemporalUnavailable(err);
    log({
      level: unavailable ? 'warn' : 'error',
      msg: unavailable ? 'Temporal is unreachable; message left for later' : 'start failed; message left for later',
      ...common,
      error: (err as Error)?.name,
    });
    return unavailable ? 'left-unavailable' : 'left-error';
  }
}

export function startIntake(opts: IntakeOptions): RunningIntake {
  const sqs = opts.sqs ?? new SQSClient({});
  const { log } = opts;
  const stopping = new AbortController();
  const pause = () =>
    sleep(opts.backoffMs ?? UNAVAILABLE_BACKOFF_MS, undefined, { signal: stopping.signal }).catch(() => {});
  /**
   * While Temporal is down, receive nothing: every receive counts towards the redrive policy's
   * maxReceiveCount, and a good message must not reach the dead-letter queue because of an outage.
   */
  const untilTemporalAnswers = async () => {
    while (!stopping.signal.aborted) {
      const up = await opts.client.connection
        .withDeadline(Date.now() + 3_000, () => opts.client.workflowService.getSystemInfo({}))
        .then(
          () => true,
          () => false,
        );
      if (up) return;
      await pause();
    }
  };
  const done = (async () => {
    let temporalDown = false;
    while (!stopping.signal.aborted) {
      if (temporalDown) {
        await untilTemporalAnswers();
        if (stopping.signal.aborted) break;
        log({ level: 'info', msg: 'Temporal answers again; receiving' });
        temporalDown = false;
        continue;
      }
      let messages: Message[];
      try {
        const res = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: opts.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: opts.waitSeconds ?? 20,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
          { abortSignal: stopping.signal },
        );
        messages = res.Messages ?? [];
      } catch (err) {
        if (stopping.signal.aborted) break;
        throw err;
      }
      const results = await Promise.all(messages.map((m) => handle(opts, sqs, log, m)));
      temporalDown = results.includes('left-unavailable');
    }
  })();
  return {
    done,
    async stop() {
      stopping.abort();
      await done.catch(() => {});
    },
  };
}

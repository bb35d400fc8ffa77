import { isGrpcServiceError, type Client } from '@temporalio/client';
import { DEFAULT_MAX_EVENT_AGE_DAYS } from '../domain/defaults';
import { eventTimeProblem } from '../domain/event-time';
import type { Config } from './config';
import { inputFromEvent, startLeaseCosts, type StartOutcome } from './client';
import { LISTED_RUN_PRIORITY, LIVE_RUN_PRIORITY } from '../domain/priority';
import { type EndedLease, LeaseCostsInput, LeaseTerminatedEvent } from '../domain/schemas';

// The one door every intake (webhook, SQS, reconciliation, backfill) goes through: the same
// validation, the same input and the same workflow id rule, so a lease gets one run however it arrives.

export type IntakeConfig = Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'BILLING_PADDING_HOURS' | 'RERUN_WINDOW_DAYS'> &
  Partial<Pick<Config, 'WEBHOOK_MAX_EVENT_AGE_DAYS'>>;
export interface IntakeIssue {
  path: string;
  message: string;
}
export type IntakeOutcome =
  (StartOutcome & { leaseUuid: string }) | { status: 'invalid'; error: string; issues: IntakeIssue[] };

const issuesOf = (error: { issues: { path: PropertyKey[]; message: string }[] }): IntakeIssue[] =>
  error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));

class DeadlineExceeded extends Error {
  constructor(ms: number) {
    super(`Temporal did not answer within ${ms} ms`);
    this.name = 'DeadlineExceeded';
  }
}

/**
 * `fn` against Temporal, answered within `ms` whatever happens: the gRPC deadline alone does not
 * hold, because the SDK's retry interceptor sleeps between attempts (and a lazy connection waits
 * for its connect timeout) past it. The abort then cancels what is still running.
 */
export function withinDeadline<T>(client: Client, ms: number, fn: () => Promise<T>): Promise<T> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new DeadlineExceeded(ms));
      abort.abort();
    }, ms);
  });
  const call = client.connection.withDeadline(Date.now() + ms, () =>
    client.connection.withAbortSignal(abort.signal, fn),
  );
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
}

/** Errors that mean "Temporal did not answer": the sender (or the queue) must try again later. */
export const isTemporalUnavailable = (err: unknown) => {
  if (err instanceof DeadlineExceeded) return true;
  const grpcCode = isGrpcServiceError(err) ? err.code : undefined;
  const code = grpcCode ?? (err as { cause?: { code?: number } })?.cause?.code;
  // UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED (deadline), RESOURCE_EXHAUSTED
  return (
    code === 14 ||
    code === 4 ||
    code === 1 ||
    code === 8 ||
    /connect|unavailable|deadline/i.test(String((err as Error)?.message))
  );
};

async function start(
  client: Client,
  config: IntakeConfig,
  input: LeaseCostsInput,
  priorityKey: number,
  deadlineMs?: number,
): Promise<IntakeOutcome> {
  const run = () => startLeaseCosts(client, config.TEMPORAL_TASK_QUEUE, input, priorityKey);
  const outcome = deadlineMs === undefined ? await run() : await withinDeadline(client, deadlineMs, run);
  return { ...outcome, leaseUuid: input.leaseUuid };
}

/**
 * A LeaseTerminated envelope (EventBridge's, as the webhook and an SQS target receive it) to a
 * started or existing run. Throws only when Temporal fails: then nothing was decided.
 */
export async function startFromEnvelope(
  client: Client,
  config: IntakeConfig,
  body: unknown,
  opts: { deadlineMs?: number } = {},
): Promise<IntakeOutcome> {
  const parsed = LeaseTerminatedEvent.safeParse(body);
  if (!parsed.success)
    return { status: 'invalid', error: 'invalid LeaseTerminated event', issues: issuesOf(parsed.error) };
  // A forged time would make the run sleep for ever (and the genuine event a "duplicate"), or fail it.
  const timeProblem = eventTimeProblem(parsed.data.time, {
    now: Date.now(),
    maxAgeDays: config.WEBHOOK_MAX_EVENT_AGE_DAYS ?? DEFAULT_MAX_EVENT_AGE_DAYS,
  });
  if (timeProblem)
    return {
      status: 'invalid',
      error: 'invalid LeaseTerminated event',
      issues: [{ path: 'time', message: timeProblem }],
    };
  return start(client, config, inputFromEvent(parsed.data, config), LIVE_RUN_PRIORITY, opts.deadlineMs);
}

/**
 * An ended lease listed by the ISB API (reconcile, backfill): its endDate is the termination time
 * the settle delay counts from. Its run has the listed priority, below every live lease's.
 */
export async function startFromLease(client: Client, config: IntakeConfig, lease: EndedLease): Promise<IntakeOutcome> {
  const input = LeaseCostsInput.safeParse({
    leaseUuid: lease.uuid,
    userEmail: lease.userEmail,
    accountId: lease.accountId,
    terminatedAt: lease.endDate,
    paddingHours: config.BILLING_PADDING_HOURS,
    rerunWindowHours: config.RERUN_WINDOW_DAYS * 24,
  });
  if (!input.success)
    return { status: 'invalid', error: `invalid ISB lease ${lease.uuid}`, issues: issuesOf(input.error) };
  return start(client, config, input.data, LISTED_RUN_PRIORITY);
}

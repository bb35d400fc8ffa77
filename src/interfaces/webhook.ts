import { createHash, timingSafeEqual } from 'node:crypto';
import { Client, Connection, isGrpcServiceError } from '@temporalio/client';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { dataConverterFor } from '../infrastructure/codec';
import type { Config } from '../infrastructure/config';
import { inputFromEvent, startLeaseCosts } from '../infrastructure/client';
import { LeaseTerminatedEvent } from '../domain/schemas';
import { temporalConnectionOptions } from '../infrastructure/temporal-connection';
import { registerReportLinks, reportLinkDepsFor, type ReportLinkDeps } from './report-links';

export const WEBHOOK_PATH = '/webhooks/lease-terminated';
export const HEALTH_PATH = '/healthz';
const BODY_LIMIT = 256 * 1024;
/** A start must answer well inside EventBridge's 5 s API-destination timeout, or it retries anyway. */
const START_DEADLINE_MS = 4_000;
const HEALTH_DEADLINE_MS = 2_000;
const RETRY_AFTER_SECONDS = '5';

export type AccessLog = (entry: Record<string, unknown>) => void;
const stdoutLog: AccessLog = (entry) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);

export interface WebhookDeps {
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'BILLING_PADDING_HOURS' | 'RERUN_WINDOW_DAYS' | 'WEBHOOK_API_KEY' | 'WEBHOOK_AUTH'>
    & Partial<Pick<Config, 'WEBHOOK_RATE_LIMIT_PER_MINUTE' | 'WEBHOOK_TRUST_PROXY'>>;
  client: Client;
  log?: AccessLog;
  /** Serve signed report links (`GET /reports/…`) when given. */
  reportLinks?: ReportLinkDeps;
}

/** Hashing first makes both sides the same length, so the comparison time says nothing about the key. */
const digest = (s: string) => createHash('sha256').update(s).digest();
const sameKey = (given: string, expected: string) => timingSafeEqual(digest(given), digest(expected));

/** Errors that mean "Temporal did not answer": the sender must retry later. */
const isUnavailable = (err: unknown) => {
  const grpcCode = isGrpcServiceError(err) ? err.code : undefined;
  const code = grpcCode ?? (err as { cause?: { code?: number } })?.cause?.code;
  // UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED (deadline), RESOURCE_EXHAUSTED
  return code === 14 || code === 4 || code === 1 || code === 8 || /connect|unavailable|deadline/i.test(String((err as Error)?.message));
};

/**
 * Fixed one-minute windows per source address: enough to stop one caller flooding the start path,
 * and memory stays bounded by the sources seen in one minute. Returns seconds to wait, or 0.
 */
function perSourceLimiter(maxPerMinute: number) {
  let windowStart = Date.now();
  let counts = new Map<string, number>();
  return (source: string): number => {
    const now = Date.now();
    if (now - windowStart >= 60_000) {
      windowStart = now;
      counts = new Map();
    }
    const n = (counts.get(source) ?? 0) + 1;
    counts.set(source, n);
    return n <= maxPerMinute ? 0 : Math.max(1, Math.ceil((windowStart + 60_000 - now) / 1000));
  };
}

const sendError = (reply: FastifyReply, status: number, error: string, extra: object = {}) =>
  reply.code(status).type('application/json').send({ error, ...extra });

export function buildWebhookServer({ config, client, log = stdoutLog, reportLinks }: WebhookDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    requestTimeout: 30_000,
    connectionTimeout: 30_000,
    // Let in-flight requests finish on close while new ones get 503.
    return503OnClosing: true,
    trustProxy: config.WEBHOOK_TRUST_PROXY ?? false,
  });
  const maxPerMinute = config.WEBHOOK_RATE_LIMIT_PER_MINUTE ?? 600;
  const overLimit = maxPerMinute > 0 ? perSourceLimiter(maxPerMinute) : () => 0;
  const expectedKey = config.WEBHOOK_AUTH === 'none' ? undefined : config.WEBHOOK_API_KEY;
  const leaseOf = new WeakMap<object, string>();

  // Only JSON is accepted; anything else (or JSON that does not parse) is 415 before any work.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(Object.assign(new Error('body is not valid JSON'), { statusCode: 415, code: 'NOT_JSON' }), undefined);
    }
  });

  // Auth runs before the body is read, so unauthenticated callers learn nothing about validation.
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url !== WEBHOOK_PATH) return;
    // Before auth: a flood of bad keys costs the caller, not us. EventBridge retries a 429.
    const retryAfter = overLimit(request.ip);
    if (retryAfter > 0) return sendError(reply.header('retry-after', String(retryAfter)), 429, 'too many requests from this source');
    if (expectedKey === undefined) return;
    const given = request.headers['x-api-key'];
    if (typeof given !== 'string' || !sameKey(given, expectedKey)) {
      return sendError(reply, 401, 'missing or invalid x-api-key');
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    log({
      level: 'info', msg: 'request', method: request.method, path: request.url.split('?')[0],
      status: reply.statusCode, latencyMs: Math.round(reply.elapsedTime * 10) / 10,
      ...(leaseOf.has(request) ? { leaseUuid: leaseOf.get(request) } : {}),
    });
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const status = err.statusCode ?? 500;
    if (status === 413) return sendError(reply, 413, `body exceeds ${BODY_LIMIT} bytes`);
    if (status === 415 || err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return sendError(reply, 415, 'body must be a JSON document sent as application/json');
    }
    if (status >= 400 && status < 500) return sendError(reply, status, 'bad request');
    log({ level: 'error', msg: 'unhandled error', method: request.method, path: request.url.split('?')[0], error: err.name });
    return sendError(reply, 500, 'internal error');
  });

  app.setNotFoundHandler((_request, reply) => sendError(reply, 404, 'not found'));

  app.get(HEALTH_PATH, async (_request, reply) => {
    try {
      await client.connection.withDeadline(Date.now() + HEALTH_DEADLINE_MS, () => client.workflowService.getSystemInfo({}));
      return reply.send({ status: 'ok' });
    } catch {
      return sendError(reply.header('retry-after', RETRY_AFTER_SECONDS), 503, 'Temporal is unreachable');
    }
  });

  if (reportLinks) registerReportLinks(app, reportLinks);

  app.post(WEBHOOK_PATH, async (request, reply) => {
    const parsed = LeaseTerminatedEvent.safeParse(request.body);
    if (!parsed.success) {
      return reply.code(400).send({
        error: 'invalid LeaseTerminated event',
        issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
      });
    }
    const event = parsed.data;
    leaseOf.set(request, event.detail.leaseId.uuid);
    try {
      const outcome = await client.connection.withDeadline(Date.now() + START_DEADLINE_MS,
        () => startLeaseCosts(client, config.TEMPORAL_TASK_QUEUE, inputFromEvent(event, config)));
      return outcome.status === 'started'
        ? reply.code(202).send({ workflowId: outcome.workflowId, runId: outcome.runId, status: 'started' })
        : reply.code(200).send({ workflowId: outcome.workflowId, status: 'duplicate' });
    } catch (err) {
      // Whether or not the start reached the server, a redelivery is safe: the id policy dedupes it.
      if (isUnavailable(err)) return sendError(reply.header('retry-after', RETRY_AFTER_SECONDS), 503, 'Temporal is unreachable, retry later');
      log({ level: 'error', msg: 'start failed', leaseUuid: event.detail.leaseId.uuid, error: (err as Error)?.name });
      return sendError(reply, 500, 'internal error');
    }
  });

  return app;
}

export interface RunningWebhook {
  /** `http://host:port` */
  address: string;
  close(): Promise<void>;
}

/**
 * The webhook on WEBHOOK_PORT. The connection is lazy, so the server comes up (and answers 503)
 * while Temporal is still down, and recovers when it returns.
 */
export async function runWebhook(
  config: Config, opts: { host?: string; log?: AccessLog } = {},
): Promise<RunningWebhook> {
  const connection = Connection.lazy({ ...temporalConnectionOptions(config), connectTimeout: '3 seconds' });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverterFor(config.PAYLOAD_ENCRYPTION_KEYS) });
  const app = buildWebhookServer({ config, client, log: opts.log, reportLinks: reportLinkDepsFor(config) });
  const host = opts.host ?? config.WEBHOOK_HOST;
  await app.listen({ port: config.WEBHOOK_PORT, host });
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound ? bound.port : config.WEBHOOK_PORT;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    address: `http://${shownHost}:${port}`,
    async close() {
      await app.close();
      await connection.close();
    },
  };
}

/** `lease-costs webhook`: serve until SIGINT/SIGTERM, then finish in-flight requests and exit. */
export async function webhookCommand(config: Config): Promise<void> {
  const webhook = await runWebhook(config);
  stdoutLog({ level: 'info', msg: 'webhook listening', url: `${webhook.address}${WEBHOOK_PATH}` });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  stdoutLog({ level: 'info', msg: 'shutting down', signal });
  await webhook.close();
}

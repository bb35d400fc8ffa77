import { createHash, timingSafeEqual } from 'node:crypto';
import { Client, Connection, isGrpcServiceError } from '@temporalio/client';
import proto from '@temporalio/proto';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { dataConverterFor } from '../infrastructure/codec';
import type { Config } from '../infrastructure/config';
import { fastifyLogging, type Logger } from '../infrastructure/logging';
import { isTemporalUnavailable, startFromEnvelope, withinDeadline } from '../infrastructure/lease-run-start';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { temporalConnectionOptions } from '../infrastructure/temporal-connection';
import { registerReportLinks, reportLinkDepsFor, type ReportLinkDeps } from './report-link-routes';

export const WEBHOOK_PATH = '/webhooks/lease-terminated';
/** Readiness: 200 when Temporal answers and the namespace has our search attributes, else 503. */
export const HEALTH_PATH = '/healthz';
/**
 * Liveness: 200 while the process serves requests, whatever Temporal's state. Load balancers check
 * this one, so a Temporal outage does not recycle the tasks that also serve report links.
 */
export const LIVENESS_PATH = '/livez';
const BODY_LIMIT = 256 * 1024;
/** A start must answer well inside EventBridge's 5 s API-destination timeout, or it retries anyway. */
const START_DEADLINE_MS = 4_000;
// Under the 2 s a health probe waits, with room for the answer itself.
const HEALTH_DEADLINE_MS = 1_500;
/** Load balancers poll health often; one check a second is enough for all of them. */
const HEALTH_CACHE_MS = 1_000;
const RETRY_AFTER_SECONDS = '5';

export interface WebhookDeps {
  config: Pick<
    Config,
    'TEMPORAL_TASK_QUEUE' | 'BILLING_PADDING_HOURS' | 'RERUN_WINDOW_DAYS' | 'WEBHOOK_API_KEY' | 'WEBHOOK_AUTH'
  > &
    Partial<Pick<Config, 'WEBHOOK_RATE_LIMIT_PER_MINUTE' | 'WEBHOOK_TRUST_PROXY' | 'WEBHOOK_MAX_EVENT_AGE_DAYS'>>;
  client: Client;
  logger: Logger;
  /** Where the request metrics go (a fresh registry when absent); served on GET /metrics. */
  metrics?: Registry;
  /** Serve signed report links (`GET /reports/…`) when given. */
  reportLinks?: ReportLinkDeps;
}

/** Hashing first makes both sides the same length, so the comparison time says nothing about the key. */
const digest = (s: string) => createHash('sha256').update(s).digest();
const sameKey = (given: string, expected: string) => timingSafeEqual(digest(given), digest(expected));

type Readiness = { ready: true } | { ready: false; error: string; missing: string[] };
// CommonJS package: Node's ESM loader cannot see its named exports.
const { IndexedValueType } = proto.temporal.api.enums.v1;

/** What a start needs: the server, the namespace, and our search attributes with their types. */
async function checkReadiness(client: Client): Promise<Readiness> {
  const namespace = client.options.namespace;
  try {
    await client.workflowService.describeNamespace({ namespace });
  } catch (err) {
    if (isGrpcServiceError(err) && err.code === 5 /* NOT_FOUND */) {
      return { ready: false, error: `namespace "${namespace}" does not exist`, missing: [`namespace:${namespace}`] };
    }
    throw err;
  }
  const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.entries(SEARCH_ATTRIBUTES)
    .filter(
      ([name, type]) =>
        customAttributes?.[name] !==
        IndexedValueType[`INDEXED_VALUE_TYPE_${type.toUpperCase()}` as keyof typeof IndexedValueType],
    )
    .map(([name, type]) => `search-attribute:${name}(${type})`);
  return missing.length === 0
    ? { ready: true }
    : { ready: false, error: `search attributes not registered in namespace "${namespace}"`, missing };
}

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
  reply
    .code(status)
    .type('application/json')
    .send({ error, ...extra });

export const WEBHOOK_METRICS = {
  requests: 'lease_costs_webhook_requests_total',
  duration: 'lease_costs_webhook_request_duration_seconds',
} as const;

function requestMetrics(registry: Registry) {
  const labelNames = ['method', 'route', 'status'] as const;
  return {
    requests: new Counter({
      name: WEBHOOK_METRICS.requests,
      help: 'HTTP requests answered, by route and status',
      labelNames,
      registers: [registry],
    }),
    duration: new Histogram({
      name: WEBHOOK_METRICS.duration,
      help: 'Time from request to response, by route and status',
      labelNames,
      registers: [registry],
      // Starts reach Temporal within the 4 s start deadline, or are answered 503.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
  };
}

export function buildWebhookServer({
  config,
  client,
  logger,
  metrics = new Registry(),
  reportLinks,
}: WebhookDeps): FastifyInstance {
  const { requests, duration } = requestMetrics(metrics);
  const app = Fastify({
    // One access line per request, written below.
    ...fastifyLogging(logger),
    bodyLimit: BODY_LIMIT,
    requestTimeout: 30_000,
    connectionTimeout: 30_000,
    // Let in-flight requests finish on close while new ones get 503.
    return503OnClosing: true,
    // Only the configured proxies' X-Forwarded-For is believed (see WEBHOOK_TRUST_PROXY).
    trustProxy: config.WEBHOOK_TRUST_PROXY?.length ? config.WEBHOOK_TRUST_PROXY : false,
  });
  const maxPerMinute = config.WEBHOOK_RATE_LIMIT_PER_MINUTE ?? 600;
  const limiter = () => (maxPerMinute > 0 ? perSourceLimiter(maxPerMinute) : () => 0);
  // Separate budgets: junk with a bad key cannot use up what a genuine sender from that source may send.
  const overLimit = { authenticated: limiter(), rejected: limiter(), health: limiter() };
  let readiness: { at: number; result: Promise<Readiness> } | undefined;
  const cachedReadiness = () => {
    if (!readiness || Date.now() - readiness.at >= HEALTH_CACHE_MS) {
      readiness = {
        at: Date.now(),
        result: withinDeadline(client, HEALTH_DEADLINE_MS, () => checkReadiness(client)).catch(
          (err: unknown): Readiness =>
            isTemporalUnavailable(err)
              ? { ready: false, error: 'Temporal is unreachable', missing: ['temporal'] }
              : // Say so when it answered but refused (permissions, an API key without access).
                {
                  ready: false,
                  error: `Temporal refused the readiness check: ${(err as Error)?.message}`,
                  missing: ['temporal-access'],
                },
        ),
      };
    }
    return readiness.result;
  };
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
    const tooMany = (retryAfter: number) =>
      sendError(reply.header('retry-after', String(retryAfter)), 429, 'too many requests from this source');
    if (request.routeOptions.url === HEALTH_PATH) {
      const retryAfter = overLimit.health(request.ip);
      if (retryAfter > 0) return tooMany(retryAfter);
      return;
    }
    if (request.routeOptions.url !== WEBHOOK_PATH) return;
    const given = request.headers['x-api-key'];
    const authenticated = expectedKey === undefined || (typeof given === 'string' && sameKey(given, expectedKey));
    // The key check is a hash and a compare: cheap enough to run before the limit. EventBridge retries a 429.
    const retryAfter = (authenticated ? overLimit.authenticated : overLimit.rejected)(request.ip);
    if (retryAfter > 0) return tooMany(retryAfter);
    if (!authenticated) return sendError(reply, 401, 'missing or invalid x-api-key');
  });

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the URL: unknown paths must not mint new label values.
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
    request.log.info(
      {
        method: request.method,
        path: request.url.split('?')[0],
        status: reply.statusCode,
        latencyMs: Math.round(reply.elapsedTime * 10) / 10,
        ...(leaseOf.has(request) ? { leaseUuid: leaseOf.get(request) } : {}),
      },
      'request',
    );
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const status = err.statusCode ?? 500;
    if (status === 413) return sendError(reply, 413, `body exceeds ${BODY_LIMIT} bytes`);
    if (status === 415 || err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return sendError(reply, 415, 'body must be a JSON document sent as application/json');
    }
    if (status >= 400 && status < 500) return sendError(reply, status, 'bad request');
    request.log.error({ method: request.method, path: request.url.split('?')[0], error: err.name }, 'unhandled error');
    return sendError(reply, 500, 'internal error');
  });

  app.setNotFoundHandler((_request, reply) => sendError(reply, 404, 'not found'));

  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));

  app.get(LIVENESS_PATH, async (_request, reply) => reply.send({ status: 'ok' }));

  app.get(HEALTH_PATH, async (_request, reply) => {
    const state = await cachedReadiness();
    if (state.ready) return reply.send({ status: 'ok' });
    return sendError(reply.header('retry-after', RETRY_AFTER_SECONDS), 503, state.error, { missing: state.missing });
  });

  if (reportLinks) registerReportLinks(app, reportLinks);

  app.post(WEBHOOK_PATH, async (request, reply) => {
    const leaseUuid = (request.body as { detail?: { leaseId?: { uuid?: unknown } } } | null)?.detail?.leaseId?.uuid;
    try {
      const outcome = await startFromEnvelope(client, config, request.body, { deadlineMs: START_DEADLINE_MS });
      if (outcome.status === 'invalid') return reply.code(400).send({ error: outcome.error, issues: outcome.issues });
      leaseOf.set(request, outcome.leaseUuid);
      return outcome.status === 'started'
        ? reply.code(202).send({ workflowId: outcome.workflowId, runId: outcome.runId, status: 'started' })
        : reply.code(200).send({ workflowId: outcome.workflowId, status: 'duplicate' });
    } catch (err) {
      if (typeof leaseUuid === 'string') leaseOf.set(request, leaseUuid);
      // Whether or not the start reached the server, a redelivery is safe: the id policy dedupes it.
      if (isTemporalUnavailable(err))
        return sendError(reply.header('retry-after', RETRY_AFTER_SECONDS), 503, 'Temporal is unreachable, retry later');
      request.log.error(
        { ...(typeof leaseUuid === 'string' ? { leaseUuid } : {}), error: (err as Error)?.name },
        'start failed',
      );
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
  config: Config,
  logger: Logger,
  opts: { host?: string } = {},
): Promise<RunningWebhook> {
  const connection = Connection.lazy({ ...temporalConnectionOptions(config), connectTimeout: '3 seconds' });
  const client = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: dataConverterFor(config),
  });
  const metrics = new Registry();
  // Process metrics (CPU, memory, event-loop lag) next to the request metrics.
  collectDefaultMetrics({ register: metrics });
  const app = buildWebhookServer({ config, client, logger, metrics, reportLinks: reportLinkDepsFor(config) });
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

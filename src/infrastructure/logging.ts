import { pino, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { LogController, type FastifyBaseLogger } from 'fastify';
import type { Logger as SdkLogger, LogLevel as SdkLogLevel, LogMetadata } from '@temporalio/common';
import type { Config } from './config';

export type { Logger } from 'pino';

/** Field names whose values never reach a log line, at the top level or nested two deep. */
const SECRET_FIELDS = [
  'authorization',
  'x-api-key',
  'cookie',
  'apiKey',
  'api_key',
  'token',
  'accessToken',
  'sessionToken',
  'secret',
  'secretAccessKey',
  'password',
  'privateKey',
  'clientKey',
  'encryptionKeys',
  'WEBHOOK_API_KEY',
  'TEMPORAL_API_KEY',
  'ISB_JWT_SECRET',
  'PAYLOAD_ENCRYPTION_KEYS',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
];
const field = (name: string) => (/^\w+$/.test(name) ? name : `["${name}"]`);
export const REDACTED_PATHS = SECRET_FIELDS.flatMap((name) => {
  const f = field(name);
  const sep = f.startsWith('[') ? '' : '.';
  return [f, `*${sep}${f}`, `*.*${sep}${f}`];
});

export type LogSettings = Pick<Config, 'LOG_LEVEL' | 'LOG_FORMAT'>;

/**
 * The one logger of a process: JSON lines (`level` as a word, ISO `time`, `msg`) for log
 * shippers, or pino-pretty for a person at a terminal (LOG_FORMAT, default: pretty when stdout is
 * a TTY). Every process (worker, webhook, codec endpoint, dev) logs through one of these.
 */
export function createLogger(settings: LogSettings, destination?: DestinationStream): Logger {
  const toTerminal = destination === undefined && process.stdout.isTTY === true;
  const format = settings.LOG_FORMAT ?? (toTerminal ? 'pretty' : 'json');
  const stream =
    format === 'pretty'
      ? pretty({
          sync: true,
          colorize: toTerminal,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname',
          destination: destination ?? 1,
        })
      : (destination ?? pino.destination({ dest: 1, sync: true }));
  return pino(
    {
      level: settings.LOG_LEVEL,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: stdSerializers.err, error: stdSerializers.err },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    stream,
  );
}

const LogTimestamp = Symbol.for('log_timestamp');
const PINO_LEVEL: Record<SdkLogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal SDK's Logger interface on top of pino, for `Runtime.install({ logger })`: workflow,
 * activity, worker and (forwarded) core lines come out in the same format as everything else,
 * with the SDK's metadata (workflowId, runId, activityType, taskQueue…) as top-level fields.
 */
export function sdkLogger(logger: Logger): SdkLogger {
  const log = (level: SdkLogLevel, message: string, meta?: LogMetadata) => {
    // The task token completes the activity from outside: a handle, not something for log storage.
    const {
      [LogTimestamp]: _t,
      taskToken: _token,
      ...fields
    } = (meta ?? {}) as LogMetadata & { [LogTimestamp]?: bigint };
    logger[PINO_LEVEL[level] ?? 'info'](fields, message);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/** Fastify options for a server logging through `logger`, without fastify's two lines per request. */
export const fastifyLogging = (logger: Logger) => ({
  loggerInstance: logger as FastifyBaseLogger,
  logController: new LogController({ disableRequestLogging: true }),
});

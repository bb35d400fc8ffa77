import type { Payload } from '@temporalio/common';
import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { EncryptionCodec, parseEncryptionKeys } from '../infrastructure/codec';
import type { Config } from '../infrastructure/config';
import { createLogger, fastifyLogging, type Logger } from '../infrastructure/logging';

// Temporal's remote codec protocol: proto3 JSON payloads, bytes as base64.
const JsonPayloads = z.object({
  payloads: z.array(z.object({
    metadata: z.record(z.string(), z.string()).optional(),
    data: z.string().optional(),
  })).max(10_000),
});
type JsonPayload = z.infer<typeof JsonPayloads>['payloads'][number];

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/**
 * The codec endpoint Temporal UI (and `temporal workflow show --codec-endpoint`) calls to show
 * decrypted payloads. It decrypts for whoever reaches it, so it listens on loopback by default and
 * belongs behind the same sign-in as the UI in production.
 */
export function buildCodecServer(config: Pick<Config, 'PAYLOAD_ENCRYPTION_KEYS' | 'CODEC_CORS_ORIGINS'>, logger: Logger): FastifyInstance {
  if (!config.PAYLOAD_ENCRYPTION_KEYS) throw new Error('PAYLOAD_ENCRYPTION_KEYS is not set: there is nothing to decode');
  const codec = new EncryptionCodec(parseEncryptionKeys(config.PAYLOAD_ENCRYPTION_KEYS));
  const origins = new Set(config.CODEC_CORS_ORIGINS.split(',').map((s) => s.trim()).filter(Boolean));
  // Request lines would say only "decode": the UI calls it for every page it shows.
  const app = Fastify({ ...fastifyLogging(logger), bodyLimit: 8 * 1024 * 1024 });

  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin && origins.has(origin)) {
      reply.header('access-control-allow-origin', origin)
        .header('access-control-allow-credentials', 'true')
        .header('vary', 'origin');
    }
    if (request.method === 'OPTIONS') {
      return reply.code(204)
        .header('access-control-allow-methods', 'POST, OPTIONS')
        .header('access-control-allow-headers', 'content-type, x-namespace, authorization')
        .send();
    }
  });
  app.setErrorHandler((err, _request, reply) => {
    const status = (err as { statusCode?: number }).statusCode;
    return reply.code(status && status < 500 ? status : 400).send({ error: status && status < 500 ? (err as Error).message : 'cannot process payloads' });
  });
  app.options('/*', async () => undefined);

  for (const op of ['encode', 'decode'] as const) {
    app.post(`/${op}`, async (request, reply) => {
      const parsed = JsonPayloads.safeParse(request.body);
      if (!parsed.success) return reply.code(400).send({ error: 'expected { payloads: [{ metadata, data }] }' });
      try {
        const out = await codec[op](parsed.data.payloads.map(fromJson));
        return { payloads: out.map(toJson) };
      } catch (err) {
        return reply.code(400).send({ error: (err as Error).message });
      }
    });
  }
  return app;
}

export async function runCodecServer(config: Config, logger: Logger): Promise<{ url: string; close(): Promise<void> }> {
  const app = buildCodecServer(config, logger);
  await app.listen({ host: config.CODEC_HOST, port: config.CODEC_PORT });
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound ? bound.port : config.CODEC_PORT;
  return { url: `http://${config.CODEC_HOST === '0.0.0.0' ? '127.0.0.1' : config.CODEC_HOST}:${port}`, close: () => app.close() };
}

/** `lease-costs codec-server`: serve until SIGINT/SIGTERM. */
export async function codecServerCommand(config: Config, untilSignal: () => Promise<NodeJS.Signals>): Promise<void> {
  const logger = createLogger(config);
  const codec = await runCodecServer(config, logger);
  logger.info({ url: codec.url }, 'codec endpoint listening');
  const signal = await untilSignal();
  logger.info({ signal }, 'shutting down');
  await codec.close();
}

import { createHash, timingSafeEqual } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import Fastify, { type FastifyInstance } from 'fastify';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';
import { EncryptionCodec, parseEncryptionKeys } from '../infrastructure/codec';
import type { Config } from '../infrastructure/config';
import { fastifyLogging, type Logger } from '../infrastructure/logging';

// Temporal's remote codec protocol: proto3 JSON payloads, bytes as base64.
const JsonPayloads = z.object({
  payloads: z
    .array(
      z.object({
        metadata: z.record(z.string(), z.string()).optional(),
        data: z.string().optional(),
      }),
    )
    .max(10_000),
});
type JsonPayload = z.infer<typeof JsonPayloads>['payloads'][number];

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

const list = (s: string) =>
  new Set(
    s
      .split(',')
      .map((x) => x.trim().toLowerCase())
      .filter(Boolean),
  );
/** Hashing first makes both sides the same length, so the comparison time says nothing about the token. */
const digest = (s: string) => createHash('sha256').update(s).digest();
const hostnameOf = (host: string | undefined) =>
  host && URL.canParse(`http://${host}`) ? new URL(`http://${host}`).hostname : undefined;

type AuthConfig = Partial<
  Pick<Config, 'CODEC_AUTH' | 'CODEC_AUTH_TOKEN' | 'CODEC_OIDC_JWKS_URL' | 'CODEC_OIDC_ISSUER' | 'CODEC_OIDC_AUDIENCE'>
>;

/**
 * Whether an Authorization header may use the endpoint: with `CODEC_AUTH=oidc`, the operator's
 * access token that Temporal UI forwards (`TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true`), verified
 * against the identity provider's keys, issuer and audience; otherwise the configured token, if any.
 */
function authorizer(config: AuthConfig): (header: string | undefined) => Promise<boolean> {
  if (config.CODEC_AUTH === 'oidc') {
    const keys = createRemoteJWKSet(new URL(config.CODEC_OIDC_JWKS_URL!));
    return async (header) => {
      const token = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
      if (!token) return false;
      return jwtVerify(token, keys, { issuer: config.CODEC_OIDC_ISSUER!, audience: config.CODEC_OIDC_AUDIENCE }).then(
        () => true,
        () => false,
      );
    };
  }
  const expected = config.CODEC_AUTH_TOKEN === undefined ? undefined : digest(`Bearer ${config.CODEC_AUTH_TOKEN}`);
  return async (header) => !expected || (typeof header === 'string' && timingSafeEqual(digest(header), expected));
}

/**
 * The codec endpoint Temporal UI (and `temporal workflow show --codec-endpoint`) calls to show
 * decrypted payloads. It decrypts, and `/encode` makes valid ciphertext, for whoever gets through, so:
 * a Host allow list (a DNS-rebound page names its own host), an Origin allow list, and a bearer
 * token: the UI's forwarded access token (OIDC) or a configured one (one of them is required off
 * loopback by the config).
 */
export function buildCodecServer(
  config: Pick<Config, 'PAYLOAD_ENCRYPTION_KEYS' | 'CODEC_CORS_ORIGINS' | 'CODEC_ALLOWED_HOSTS'> & AuthConfig,
  logger: Logger,
): FastifyInstance {
  if (!config.PAYLOAD_ENCRYPTION_KEYS)
    throw new Error('PAYLOAD_ENCRYPTION_KEYS is not set: there is nothing to decode');
  const codec = new EncryptionCodec(parseEncryptionKeys(config.PAYLOAD_ENCRYPTION_KEYS));
  const origins = list(config.CODEC_CORS_ORIGINS);
  const hosts = list(config.CODEC_ALLOWED_HOSTS);
  const authorized = authorizer(config);
  // Request lines would say only "decode": the UI calls it for every page it shows.
  const app = Fastify({ ...fastifyLogging(logger), bodyLimit: 8 * 1024 * 1024 });

  app.addHook('onRequest', async (request, reply) => {
    const hostname = hostnameOf(request.headers.host);
    if (!hostname || !hosts.has(hostname))
      return reply.code(421).send({ error: 'this endpoint does not answer to that Host' });
    const origin = request.headers.origin;
    if (origin !== undefined && !origins.has(origin.toLowerCase()))
      return reply.code(403).send({ error: 'origin not allowed' });
    if (origin) {
      reply
        .header('access-control-allow-origin', origin)
        .header('access-control-allow-credentials', 'true')
        .header('vary', 'origin');
    }
    if (request.method === 'OPTIONS') {
      return reply
        .code(204)
        .header('access-control-allow-methods', 'POST, OPTIONS')
        .header('access-control-allow-headers', 'content-type, x-namespace, authorization')
        .send();
    }
    if (!(await authorized(request.headers.authorization))) {
      return reply.code(401).send({ error: 'missing or invalid bearer token' });
    }
  });
  app.setErrorHandler((err, _request, reply) => {
    const status = (err as { statusCode?: number }).statusCode;
    return reply
      .code(status && status < 500 ? status : 400)
      .send({ error: status && status < 500 ? (err as Error).message : 'cannot process payloads' });
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
  return {
    url: `http://${config.CODEC_HOST === '0.0.0.0' ? '127.0.0.1' : config.CODEC_HOST}:${port}`,
    close: () => app.close(),
  };
}

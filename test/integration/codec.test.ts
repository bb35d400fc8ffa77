import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { createWorker, type LeaseCostsWorker } from '../../src/interfaces/worker-composition';
import { dataConverterFor, EncryptionCodec, parseEncryptionKeys } from '../../src/infrastructure/codec';
import { buildCodecServer } from '../../src/interfaces/codec-endpoint';
import { listenOnLoopback } from '../../support/fakes/listen';
import { rawHistoryText } from '../helpers/history';
import { httpRequest } from '../helpers/http';
import { silentLogger } from '../helpers/logs';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { fetchHistory, uniqueTaskQueue, workerOptionsBase } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const DAY = 24 * 3600_000;
const KEYS = `k2:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`;
const UI_ORIGIN = 'http://127.0.0.1:8233';
const TOKEN = randomBytes(24).toString('hex');
const AUTH = { authorization: `Bearer ${TOKEN}` };
let stack: Stack;
let client: Client;
let worker: LeaseCostsWorker;
let running: Promise<void>;
let codecServer: FastifyInstance;
let codecUrl: string;

beforeAll(async () => {
  stack = await startStack({ env: { PAYLOAD_ENCRYPTION_KEYS: KEYS, RERUN_WINDOW_DAYS: '0' } });
  // Production wiring, bundle included: the failure converter must be inside the workflow code too,
  // which the suite's shared bundle (built without encryption) is not.
  worker = await createWorker(stack.config, {
    connection: (await workerOptionsBase(stack.config.TEMPORAL_ADDRESS)).connection,
  });
  running = worker.run();
  client = new Client({
    connection: Connection.lazy({ address: stack.config.TEMPORAL_ADDRESS }),
    dataConverter: dataConverterFor({ PAYLOAD_ENCRYPTION_KEYS: KEYS }),
  });
  codecServer = buildCodecServer(
    {
      PAYLOAD_ENCRYPTION_KEYS: KEYS,
      CODEC_CORS_ORIGINS: UI_ORIGIN,
      CODEC_ALLOWED_HOSTS: '127.0.0.1',
      CODEC_AUTH_TOKEN: TOKEN,
    },
    silentLogger(),
  );
  await codecServer.listen({ port: 0, host: '127.0.0.1' });
  const addr = codecServer.server.address();
  codecUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await codecServer?.close();
  await client?.connection.close();
  await stack?.stop();
});

describe('payload encryption', () => {
  it("a finished run's raw history holds no email, secret key or session token; the codec endpoint decodes it", async () => {
    const lease = {
      uuid: randomUUID(),
      userEmail: `mary.jackson.${randomUUID().slice(0, 6)}@example.gov.uk`,
      accountId: '567890123456',
    };
    const startDate = new Date(Date.now() - 2 * DAY).toISOString();
    stack.isb.addLease({ ...lease, startDate, status: 'Expired' });
    stack.ce.addCosts(
      dailyCosts({
        accountId: lease.accountId,
        start: startDate.slice(0, 10),
        end: new Date(Date.now() + DAY).toISOString().slice(0, 10),
        service: 'Amazon S3',
        resourceId: 'arn:aws:s3:::enc-bucket',
        region: 'us-east-1',
        amount: '1.5',
      }),
    );
    await startLeaseCosts(client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId: lease.accountId,
      terminatedAt: new Date().toISOString(),
      paddingHours: 0,
      rerunWindowHours: 0,
    });
    const result = (await client.workflow.getHandle(workflowIdFor(lease.uuid)).result()) as { total: string };
    expect(result.total).toBe('4.5');

    // Raw history, as anyone with read access to the namespace sees it: no codec.
    const history = await fetchHistory(stack.client, workflowIdFor(lease.uuid));
    const raw = rawHistoryText(history);
    const ceCall = stack.ce.calls.find((c) => JSON.stringify(c.request).includes(lease.accountId))!;
    expect(ceCall.sessionToken).toBeTruthy();
    for (const secret of [
      lease.userEmail,
      ceCall.accessKeyId!,
      ceCall.sessionToken!,
      stack.isb.secret,
      '"total":"4.5"',
    ]) {
      expect(raw).not.toContain(secret);
    }
    expect(raw).toContain('binary/encrypted');
    expect(raw).toContain('k2');

    // The codec endpoint gives operators (and Temporal UI) the plaintext back.
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads!;
    const res = await httpRequest(`${codecUrl}/decode`, {
      headers: { 'content-type': 'application/json', origin: UI_ORIGIN, 'x-namespace': 'default', ...AUTH },
      body: JSON.stringify({
        payloads: input.map((p) => ({
          metadata: Object.fromEntries(
            Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
          ),
          data: Buffer.from(p.data!).toString('base64'),
        })),
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
    const decoded = (res.json as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads;
    expect(Buffer.from(decoded[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(decoded[0]!.data, 'base64').toString())).toMatchObject({
      leaseUuid: lease.uuid,
      userEmail: lease.userEmail,
    });

    // The preflight the UI sends first (browsers send no credentials with it).
    const preflight = await httpRequest(`${codecUrl}/decode`, {
      method: 'OPTIONS',
      headers: { origin: UI_ORIGIN, 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-headers']).toContain('x-namespace');
    expect(preflight.headers['access-control-allow-headers']).toContain('authorization');
    const bad = await httpRequest(`${codecUrl}/decode`, {
      headers: { 'content-type': 'application/json', ...AUTH },
      body: '{"payloads":[{"metadata":{"encoding":"YmluYXJ5L2VuY3J5cHRlZA==","encryption-key-id":"azk="},"data":"AAAA"}]}',
    });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: expect.stringMatching(/key "k9"/) });
  });

  it('the codec endpoint decodes nothing and encodes nothing for a rebound Host, a stranger Origin or a missing token', async () => {
    const body = JSON.stringify({
      payloads: [
        {
          metadata: { encoding: Buffer.from('json/plain').toString('base64') },
          data: Buffer.from('"x"').toString('base64'),
        },
      ],
    });
    const json = { 'content-type': 'application/json' };
    const attempts: [string, string, Record<string, string>, number][] = [
      [
        'DNS rebinding: hostile Host, right token',
        '/decode',
        { ...json, ...AUTH, host: 'rebind.attacker.example' },
        421,
      ],
      [
        'hostile Host with our port',
        '/encode',
        { ...json, ...AUTH, host: `rebind.attacker.example:${new URL(codecUrl).port}` },
        421,
      ],
      ['stranger origin, right token', '/decode', { ...json, ...AUTH, origin: 'https://evil.example' }, 403],
      ['no token', '/decode', json, 401],
      ['no token, /encode', '/encode', json, 401],
      ['wrong token', '/decode', { ...json, authorization: `Bearer ${TOKEN}x` }, 401],
      ['token without Bearer', '/decode', { ...json, authorization: TOKEN }, 401],
    ];
    for (const [name, path, headers, status] of attempts) {
      const res = await httpRequest(`${codecUrl}${path}`, { headers, body });
      expect(res.status, name).toBe(status);
      expect(res.json, name).toEqual({ error: expect.any(String) });
      expect(res.headers['access-control-allow-origin'], name).toBeUndefined();
    }
    const allowed = await httpRequest(`${codecUrl}/encode`, { headers: { ...json, ...AUTH, origin: UI_ORIGIN }, body });
    expect(allowed.status).toBe(200);
  });

  it("with CODEC_AUTH=oidc it takes the access token Temporal UI forwards, verified against the identity provider's keys", async () => {
    // A real JWKS over HTTP, as an identity provider serves it, and tokens signed as it would.
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const { privateKey: strangerKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
    const idp = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
    );
    const { endpoint: jwksBase } = await listenOnLoopback(idp);
    const config = {
      PAYLOAD_ENCRYPTION_KEYS: KEYS,
      CODEC_CORS_ORIGINS: UI_ORIGIN,
      CODEC_ALLOWED_HOSTS: '127.0.0.1',
      CODEC_AUTH: 'oidc' as const,
      CODEC_OIDC_JWKS_URL: `${jwksBase}/jwks.json`,
      CODEC_OIDC_ISSUER: 'https://idp.example',
      CODEC_OIDC_AUDIENCE: 'temporal-ui',
    };
    const oidc = buildCodecServer(config, silentLogger());
    await oidc.listen({ port: 0, host: '127.0.0.1' });
    try {
      const url = `http://127.0.0.1:${(oidc.server.address() as { port: number }).port}/decode`;
      const sign = (key: Parameters<SignJWT['sign']>[0], claims: { iss?: string; aud?: string; exp?: string } = {}) =>
        new SignJWT({ sub: 'operator@example.gov.uk' })
          .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
          .setIssuer(claims.iss ?? config.CODEC_OIDC_ISSUER)
          .setAudience(claims.aud ?? config.CODEC_OIDC_AUDIENCE)
          .setIssuedAt()
          .setExpirationTime(claims.exp ?? '5m')
          .sign(key);
      const body = JSON.stringify({
        payloads: [
          {
            metadata: { encoding: Buffer.from('json/plain').toString('base64') },
            data: Buffer.from('"x"').toString('base64'),
          },
        ],
      });
      const call = async (authorization?: string) =>
        (
          await httpRequest(url, {
            headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
            body,
          })
        ).status;
      expect(await call(`Bearer ${await sign(privateKey)}`), 'a valid token').toBe(200);
      expect(await call(), 'no token').toBe(401);
      expect(await call(`Bearer ${await sign(strangerKey)}`), 'signed by another key').toBe(401);
      expect(await call(`Bearer ${await sign(privateKey, { iss: 'https://other.example' })}`), 'another issuer').toBe(
        401,
      );
      expect(await call(`Bearer ${await sign(privateKey, { aud: 'someone-else' })}`), 'another audience').toBe(401);
      expect(await call(`Bearer ${await sign(privateKey, { exp: '-1m' })}`), 'expired').toBe(401);
      expect(await call(`Bearer ${TOKEN}`), 'the static token means nothing here').toBe(401);
    } finally {
      await oidc.close();
      idp.close();
    }
  });

  it('failure messages and stack traces are encrypted in raw history, and decode for a client with the keys', async () => {
    const lease = {
      uuid: randomUUID(),
      userEmail: `katherine.johnson.${randomUUID().slice(0, 6)}@example.gov.uk`,
      accountId: '567890123457',
    };
    // Not in the ISB fake: lookupLease fails with LeaseNotFound, and so does the run.
    await startLeaseCosts(client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId: lease.accountId,
      terminatedAt: new Date().toISOString(),
      paddingHours: 0,
      rerunWindowHours: 0,
    });
    const err = (await client.workflow
      .getHandle(workflowIdFor(lease.uuid))
      .result()
      .catch((e: unknown) => e)) as Error & { cause?: Error & { cause?: Error } };
    expect(err.cause?.cause?.message).toContain(`has no readable lease ${lease.uuid}`);

    const raw = rawHistoryText(await fetchHistory(stack.client, workflowIdFor(lease.uuid)));
    expect(raw).toContain('Encoded failure');
    for (const plaintext of [
      'does not exist in the ISB API',
      'activities/isb.ts',
      'workflows/lease-costs.ts',
      'node_modules',
    ]) {
      expect(raw).not.toContain(plaintext);
    }
  });

  it('with PAYLOAD_REQUIRE_ENCRYPTION a plaintext start cannot run, an encrypted one can', async () => {
    const taskQueue = uniqueTaskQueue('require-enc');
    const strict = await createWorker(
      { ...stack.config, TEMPORAL_TASK_QUEUE: taskQueue, PAYLOAD_REQUIRE_ENCRYPTION: true },
      {
        workerOptions: { workflowBundle: (await workerOptionsBase(stack.config.TEMPORAL_ADDRESS)).workflowBundle },
        connection: (await workerOptionsBase(stack.config.TEMPORAL_ADDRESS)).connection,
      },
    );
    const strictRun = strict.run();
    const input = (uuid: string) => ({
      leaseUuid: uuid,
      userEmail: 'dorothy.vaughan@example.gov.uk',
      accountId: '567890123458',
      terminatedAt: new Date().toISOString(),
      paddingHours: 8,
      rerunWindowHours: 0,
    });
    try {
      // stack.client has no codec: its input reaches the worker as plaintext.
      const plain = randomUUID();
      await startLeaseCosts(stack.client, taskQueue, input(plain));
      const failed = await waitFor(
        async () => {
          const events = (await fetchHistory(stack.client, workflowIdFor(plain))).events ?? [];
          return (
            events.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes ?? undefined
          );
        },
        20_000,
        'a failed workflow task',
      );
      // The task failure is itself encrypted; with the keys it names the setting.
      expect(failed.failure?.message).toBe('Encoded failure');
      const [attrs] = await new EncryptionCodec(parseEncryptionKeys(KEYS)).decode([
        failed.failure!.encodedAttributes! as Payload,
      ]);
      expect(defaultPayloadConverter.fromPayload<{ message: string }>(attrs!).message).toMatch(
        /PAYLOAD_REQUIRE_ENCRYPTION/,
      );
      const encrypted = randomUUID();
      await startLeaseCosts(client, taskQueue, input(encrypted));
      const status = await waitFor(
        async () => {
          const s = await client.workflow
            .getHandle(workflowIdFor(encrypted))
            .query<{ phase: string }>('status')
            .catch(() => undefined);
          return s?.phase === 'waiting' ? s : undefined;
        },
        20_000,
        'the encrypted run waiting',
      );
      expect(status.phase).toBe('waiting');
      for (const uuid of [plain, encrypted])
        await stack.client.workflow.getHandle(workflowIdFor(uuid)).terminate('test done');
    } finally {
      strict.shutdown();
      await strictRun;
    }
  });
});

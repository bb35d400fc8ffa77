import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsbActivities, MAX_ISB_RESPONSE_BYTES } from '../../activities/isb';
import { ErrorType } from '../../src/domain/errors';
import { startFakeIsbApi, type FakeIsbApi } from '../../support/fakes/isb-api';
import { waitFor } from '../helpers/wait';

const SECRET = 'first-secret-0123456789abcdef';
let isb: FakeIsbApi;
beforeAll(async () => {
  isb = await startFakeIsbApi({ jwtSecret: SECRET });
});
afterAll(async () => isb?.close());

const ACCOUNT = '123456789012';

function lease(extra: { useAwsAccountIdField?: boolean } = {}) {
  const l = { uuid: randomUUID(), userEmail: 'grace.hopper+ops@example.gov.uk', accountId: ACCOUNT, startDate: '2026-01-02T03:04:05Z', status: 'Expired', ...extra };
  isb.addLease(l);
  return l;
}

describe('ISB lease lookup over real HTTP', () => {
  it('signs an Admin HS256 token the API accepts and reads the JSend lease (either account field)', async () => {
    let reads = 0;
    const { lookupLease } = createIsbActivities({ baseUrl: `${isb.endpoint}/`, loadSecret: async () => (reads++, SECRET) });
    const a = lease();
    const b = lease({ useAwsAccountIdField: true });
    expect(await lookupLease({ leaseUuid: a.uuid, userEmail: a.userEmail, accountId: ACCOUNT })).toMatchObject({ uuid: a.uuid, accountId: '123456789012', startDate: a.startDate });
    expect(await lookupLease({ leaseUuid: b.uuid, userEmail: b.userEmail, accountId: ACCOUNT })).toMatchObject({ uuid: b.uuid, accountId: '123456789012' });
    expect(reads).toBe(1); // the token and secret are reused until near expiry
  });

  it('answers a missing lease with a non-retryable LeaseNotFound', async () => {
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => SECRET });
    const err = await lookupLease({ leaseUuid: randomUUID(), userEmail: 'nobody@example.com', accountId: ACCOUNT }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'LeaseNotFound', nonRetryable: true });
  });

  it('refuses, for good, a lease whose account or user is not what the event said', async () => {
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => SECRET });
    const l = lease();
    const err = await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: '123456789013' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'LeaseMismatch', nonRetryable: true });
    expect((err as Error).message).toContain('account 123456789012');
  });

  it('leaves 5xx to the engine as a retryable error', async () => {
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => SECRET });
    const l = lease();
    isb.failNext(1, 503);
    const err = await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: ACCOUNT }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect((err as Error).message).toContain('503');
    expect(await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: ACCOUNT })).toMatchObject({ uuid: l.uuid });
  });

  it('re-reads the secret once after a 401 when the secret has rotated', async () => {
    let current = SECRET;
    let reads = 0;
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => (reads++, current) });
    const l = lease();
    await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: ACCOUNT });
    current = 'rotated-secret-0123456789abcdef';
    isb.rotateSecret(current);
    try {
      expect(await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: ACCOUNT })).toMatchObject({ uuid: l.uuid });
      expect(reads).toBe(2);
      const statuses = isb.calls.slice(-2).map((c) => c.status);
      expect(statuses).toEqual([401, 200]);
    } finally {
      isb.rotateSecret(SECRET);
    }
  });

  it('rejects an invalid lease body as non-retryable', async () => {
    const { lookupLease } = createIsbActivities({
      baseUrl: 'http://127.0.0.1:9', loadSecret: async () => SECRET,
      fetch: async () => new Response(JSON.stringify({ status: 'success', data: { uuid: 'x' } }), { status: 200 }),
    });
    await expect(lookupLease({ leaseUuid: randomUUID(), userEmail: 'a@b.co', accountId: ACCOUNT })).rejects.toMatchObject({ type: 'InvalidLease', nonRetryable: true });
  });

  it.each([
    ['declared by Content-Length', true],
    ['streamed without a length', false],
  ])('refuses a response body over the cap (%s) as non-retryable, without reading it all', async (_name, declare) => {
    let sent = 0;
    let closedEarly = false;
    const huge = createServer((_req, res) => {
      const total = 64 * 1024 * 1024;
      res.writeHead(200, { 'content-type': 'application/json', ...(declare ? { 'content-length': String(total) } : {}) });
      res.on('close', () => { closedEarly = sent < total; });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.write('{"status":"success","data":{"pad":"');
      pump();
    });
    await new Promise<void>((r) => huge.listen(0, '127.0.0.1', r));
    try {
      const { port } = huge.address() as AddressInfo;
      const { lookupLease } = createIsbActivities({ baseUrl: `http://127.0.0.1:${port}`, loadSecret: async () => SECRET });
      const err = await lookupLease({ leaseUuid: randomUUID(), userEmail: 'a@b.co', accountId: '123456789012' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({ type: ErrorType.IsbResponseTooLarge, nonRetryable: true, message: expect.stringContaining(`exceeds ${MAX_ISB_RESPONSE_BYTES} bytes`) });
      await waitFor(async () => (closedEarly ? true : undefined), 5_000, 'the download to be cut');
      expect(sent).toBeLessThan(64 * 1024 * 1024);
    } finally {
      huge.closeAllConnections();
      await new Promise((r) => huge.close(r));
    }
  });
});

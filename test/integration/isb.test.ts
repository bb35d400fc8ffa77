import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsbActivities, encodeLeaseId, LEASE_LIST_PAGE_SIZE, MAX_ISB_RESPONSE_BYTES } from '../../activities/isb';
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

function lease(extra: Record<string, unknown> = {}, userEmail = 'grace.hopper+ops@example.gov.uk') {
  const l = {
    uuid: randomUUID(),
    userEmail,
    accountId: ACCOUNT,
    startDate: '2026-01-02T03:04:05Z',
    status: 'Expired',
    extra,
  };
  isb.addLease(l);
  return l;
}
const idOf = (l: { uuid: string; userEmail: string }) => ({
  leaseUuid: l.uuid,
  userEmail: l.userEmail,
  accountId: ACCOUNT,
});

describe('ISB lease lookup over real HTTP', () => {
  it("signs a Manager HS256 token the API accepts and reads the JSend lease, with the ISB's optional fields as decimal strings", async () => {
    let reads = 0;
    const { lookupLease } = createIsbActivities({
      baseUrl: `${isb.endpoint}/`,
      loadSecret: async () => (reads++, SECRET),
    });
    const a = lease();
    const b = lease({
      costReportGroup: 'team-a',
      maxSpend: 50.5,
      totalCostAccrued: 12.34,
      originalLeaseTemplateName: 'Data science',
    });
    expect(await lookupLease(idOf(a))).toEqual({
      uuid: a.uuid,
      userEmail: a.userEmail,
      accountId: ACCOUNT,
      startDate: a.startDate,
      status: 'Expired',
      originalLeaseTemplateName: 'sandbox',
      maxSpend: '50',
      totalCostAccrued: '0',
    });
    expect(await lookupLease(idOf(b))).toMatchObject({
      costReportGroup: 'team-a',
      maxSpend: '50.5',
      totalCostAccrued: '12.34',
      originalLeaseTemplateName: 'Data science',
    });
    expect(reads).toBe(1); // the token and secret are reused until near expiry
  });

  it('sends the padded base64 id raw in the path, as the ISB frontend does (the handler refuses %3D)', async () => {
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => SECRET });
    // 17 characters of address give a JSON key whose base64 ends in '=='.
    const l = lease({}, 'ada@example.co.uk');
    expect(encodeLeaseId(l.userEmail, l.uuid)).toMatch(/==$/);
    expect(await lookupLease(idOf(l))).toMatchObject({ uuid: l.uuid });
    expect(isb.calls.at(-1)).toMatchObject({ status: 200, path: `/leases/${encodeLeaseId(l.userEmail, l.uuid)}` });
  });

  it('a token whose user the ISB refuses (400) fails at once, naming the claim', async () => {
    // Configuration refuses such an address; a client built around it shows what the API answers.
    const { lookupLease } = createIsbActivities({
      baseUrl: isb.endpoint,
      loadSecret: async () => SECRET,
      userEmail: 'lease-costs@system',
    });
    const err = await lookupLease(idOf(lease())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: ErrorType.IsbRequestRejected, nonRetryable: true });
    expect((err as Error).message).toMatch(/400.*user claim.*ISB_JWT_USER_EMAIL/);
  });

  it('429 from the WAF rate rule stays retryable', async () => {
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => SECRET });
    const l = lease();
    isb.failNext(1, 429);
    const err = await lookupLease(idOf(l)).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect((err as Error).message).toMatch(/429.*rate-limited/);
    expect(await lookupLease(idOf(l))).toMatchObject({ uuid: l.uuid });
  });

  it('after the ISB deleted the lease (leases.ttl), answers with the lease an earlier run recorded', async () => {
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => SECRET });
    const l = lease({ costReportGroup: 'team-b' });
    const known = await lookupLease(idOf(l));
    isb.removeLease(l.userEmail, l.uuid);
    expect(await lookupLease({ ...idOf(l), known })).toEqual(known);
    expect(isb.calls.at(-1)).toMatchObject({ status: 404, uuid: l.uuid });
    await expect(lookupLease(idOf(l))).rejects.toMatchObject({ type: ErrorType.LeaseNotFound, nonRetryable: true });
  });

  it("with withAccountLeases, also answers the account's other leases (not itself, not other accounts'), deleted lease included", async () => {
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => SECRET });
    const account = '210987654321';
    const add = (accountId: string, startDate: string, endDate?: string) => {
      const l = { uuid: randomUUID(), userEmail: 'ada@example.gov.uk', accountId, startDate, status: 'Expired' };
      isb.addLease(endDate ? { ...l, endDate } : l);
      return { ...l, ...(endDate ? { endDate } : {}) };
    };
    const self = add(account, '2026-02-01T09:00:00Z', '2026-02-03T09:00:00Z');
    const before = add(account, '2026-01-29T09:00:00Z', '2026-02-01T08:00:00Z');
    const running = add(account, '2026-02-03T10:00:00Z');
    add('310987654321', '2026-02-01T09:00:00Z', '2026-02-03T09:00:00Z');
    const id = { leaseUuid: self.uuid, userEmail: self.userEmail, accountId: account };
    const expected = [before, running].map(({ uuid, startDate, endDate, status }) => ({
      uuid,
      startDate,
      ...(endDate ? { endDate } : {}),
      status,
    }));

    const { accountLeases, ...found } = await lookupLease({ ...id, withAccountLeases: true });
    expect(found).toEqual(await lookupLease(id));
    expect(accountLeases).toEqual(expect.arrayContaining(expected));
    expect(accountLeases).toHaveLength(2);

    isb.removeLease(self.userEmail, self.uuid);
    const known = await lookupLease({ ...id, known: found, withAccountLeases: true });
    expect(known).toEqual({ ...found, accountLeases });
  });

  it("a record failing the ISB's own schema: LeaseNotFound that says so on lookup, counted and left out of the list", async () => {
    const { lookupLease, listEndedLeases } = createIsbActivities({
      baseUrl: isb.endpoint,
      loadSecret: async () => SECRET,
    });
    const l = lease({ endDate: '2026-01-03T00:00:00Z', awsAccountId: '1234' });
    const err = await lookupLease(idOf(l)).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: ErrorType.LeaseNotFound, nonRetryable: true });
    expect((err as Error).message).toContain("fails the ISB's own schema");
    const page = await listEndedLeases({ endedAfter: '2026-01-01T00:00:00Z', pageSize: 2000 });
    expect(page.invalidRecords).toBe(1);
    expect([...page.leases, ...page.unusable].map((x) => x.uuid)).not.toContain(l.uuid);
    isb.removeLease(l.userEmail, l.uuid);
  });

  it('a full page of 500 leases with the longest comments the ISB allows fits the response cap', async () => {
    const big = await startFakeIsbApi({ jwtSecret: SECRET });
    try {
      // FreeTextSchema allows 1000 characters; control characters cost 6 bytes each in JSON.
      const comments = '\u0001'.repeat(1000);
      for (let i = 0; i < LEASE_LIST_PAGE_SIZE; i++) {
        big.addLease({
          uuid: randomUUID(),
          userEmail: `user${i}@example.com`,
          accountId: ACCOUNT,
          startDate: '2026-01-02T03:04:05Z',
          endDate: '2026-01-05T00:00:00Z',
          status: 'Expired',
          extra: { comments, costReportGroup: 'g'.repeat(50) },
        });
      }
      const raw = await fetch(`${big.endpoint}/leases?pageSize=${LEASE_LIST_PAGE_SIZE}`, {
        headers: { authorization: `Bearer ${await big.signToken()}` },
      });
      const bytes = Buffer.byteLength(await raw.text());
      expect(bytes).toBeGreaterThan(2 * 1024 * 1024);
      expect(bytes).toBeLessThan(MAX_ISB_RESPONSE_BYTES);
      const { listEndedLeases } = createIsbActivities({ baseUrl: big.endpoint, loadSecret: async () => SECRET });
      const page = await listEndedLeases({ endedAfter: '2026-01-01T00:00:00Z' });
      expect(page.scanned).toBe(LEASE_LIST_PAGE_SIZE);
      expect(page.leases).toHaveLength(LEASE_LIST_PAGE_SIZE);
    } finally {
      await big.close();
    }
  });

  it('answers a missing lease with a non-retryable LeaseNotFound', async () => {
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => SECRET });
    const err = await lookupLease({
      leaseUuid: randomUUID(),
      userEmail: 'nobody@example.com',
      accountId: ACCOUNT,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'LeaseNotFound', nonRetryable: true });
  });

  it('refuses, for good, a lease whose account or user is not what the event said', async () => {
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => SECRET });
    const l = lease();
    const err = await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: '123456789013' }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ type: 'LeaseMismatch', nonRetryable: true });
    expect((err as Error).message).toContain('account 123456789012');
  });

  it('leaves 5xx to the engine as a retryable error', async () => {
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => SECRET });
    const l = lease();
    isb.failNext(1, 503);
    const err = await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: ACCOUNT }).catch(
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect((err as Error).message).toContain('503');
    expect(await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: ACCOUNT })).toMatchObject({
      uuid: l.uuid,
    });
  });

  it('re-reads the secret once when the authorizer denies a token signed with the rotated-away secret (403)', async () => {
    let current = SECRET;
    let reads = 0;
    const { lookupLease } = createIsbActivities({ baseUrl: isb.endpoint, loadSecret: async () => (reads++, current) });
    const l = lease();
    await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: ACCOUNT });
    current = 'rotated-secret-0123456789abcdef';
    isb.rotateSecret(current);
    try {
      expect(await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: ACCOUNT })).toMatchObject({
        uuid: l.uuid,
      });
      expect(reads).toBe(2);
      const statuses = isb.calls.slice(-2).map((c) => c.status);
      expect(statuses).toEqual([403, 200]);
      // Still refused with the secret read again (a warm authorizer keeps the old one): left to the engine's retries.
      isb.rotateSecret('third-secret-0123456789abcdef', { authorizerKeepsOld: true });
      current = 'third-secret-0123456789abcdef';
      const err = await lookupLease({ leaseUuid: l.uuid, userEmail: l.userEmail, accountId: ACCOUNT }).catch(
        (e: unknown) => e,
      );
      expect(err).not.toBeInstanceOf(ApplicationFailure);
      expect((err as Error).message).toMatch(/403.*authorizer/);
      expect(isb.calls.slice(-2).map((c) => c.status)).toEqual([401, 403]);
      expect(reads).toBe(3);
    } finally {
      isb.rotateSecret(SECRET);
    }
  });

  it('rejects an invalid lease body as non-retryable', async () => {
    const { lookupLease } = createIsbActivities({
      baseUrl: 'http://127.0.0.1:9',
      loadSecret: async () => SECRET,
      fetch: async () => new Response(JSON.stringify({ status: 'success', data: { uuid: 'x' } }), { status: 200 }),
    });
    await expect(
      lookupLease({ leaseUuid: randomUUID(), userEmail: 'a@b.co', accountId: ACCOUNT }),
    ).rejects.toMatchObject({ type: 'InvalidLease', nonRetryable: true });
  });

  it.each([
    ['declared by Content-Length', true],
    ['streamed without a length', false],
  ])('refuses a response body over the cap (%s) as non-retryable, without reading it all', async (_name, declare) => {
    let sent = 0;
    let closedEarly = false;
    const huge = createServer((_req, res) => {
      const total = 64 * 1024 * 1024;
      res.writeHead(200, {
        'content-type': 'application/json',
        ...(declare ? { 'content-length': String(total) } : {}),
      });
      res.on('close', () => {
        closedEarly = sent < total;
      });
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
      const { lookupLease } = createIsbActivities({
        baseUrl: `http://127.0.0.1:${port}`,
        loadSecret: async () => SECRET,
      });
      const err = await lookupLease({ leaseUuid: randomUUID(), userEmail: 'a@b.co', accountId: '123456789012' }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({
        type: ErrorType.IsbResponseTooLarge,
        nonRetryable: true,
        message: expect.stringContaining(`exceeds ${MAX_ISB_RESPONSE_BYTES} bytes`),
      });
      await waitFor(async () => (closedEarly ? true : undefined), 5_000, 'the download to be cut');
      expect(sent).toBeLessThan(64 * 1024 * 1024);
    } finally {
      huge.closeAllConnections();
      await new Promise((r) => huge.close(r));
    }
  });
});

import { ApplicationFailure } from '@temporalio/activity';
import { SignJWT } from 'jose';
import { AccountLease, ActiveLease } from '../src/domain/chargeback';
import { ErrorType } from '../src/domain/errors';
import { EndedLease, EndedLeaseStatus, IsbLease, IsbLeasePage, JSendSuccess } from '../src/domain/schemas';

export interface IsbDeps {
  baseUrl: string;
  /** Reads the signing secret (Secrets Manager or configuration); called again after a 401. */
  loadSecret: () => Promise<string>;
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
}

export interface LeaseDetails {
  uuid: string;
  userEmail: string;
  accountId: string;
  startDate: string;
  endDate?: string;
  status: string;
  costReportGroup?: string;
  originalLeaseTemplateName?: string;
  maxSpend?: string;
  totalCostAccrued?: string;
}

const TOKEN_LIFETIME_S = 3600;
const RESIGN_BEFORE_EXPIRY_S = 300;
const LeaseResponse = JSendSuccess(IsbLease);
const LeasePageResponse = JSendSuccess(IsbLeasePage);
/** Leases per `GET /leases` page (the ISB allows 2000); only the ended ones in range come back to the workflow. */
export const LEASE_LIST_PAGE_SIZE = 500;

export interface ListEndedLeasesInput {
  /** Where the previous page stopped; absent for the first page. */
  pageIdentifier?: string;
  /** Leases whose endDate is at or after this instant, and before `endedBefore` when given. */
  endedAfter: string;
  endedBefore?: string;
  pageSize?: number;
}

export interface EndedLeasePage {
  leases: EndedLease[];
  nextPageIdentifier?: string;
  /** Leases on the page, ended or not. */
  scanned: number;
  /** Ended leases in range that the ISB returned without a usable account, email or end date. */
  unusable: { uuid?: string; reason: string }[];
}

/**
 * The ISB keeps `maxSpend` and `totalCostAccrued` as JSON numbers (source/common/data/lease/lease.ts);
 * we carry them as the decimal strings of what was sent. Anything else is left out, not guessed.
 */
function decimalOf(v: unknown): string | undefined {
  const s = typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'string' ? v : undefined;
  return s !== undefined && /^-?\d+(\.\d+)?$/.test(s) ? s : undefined;
}
const textOf = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

/** Lease list pages a full scan reads at most: 100 × 2000 leases, far beyond any ISB (ended leases expire after 30 days). */
const MAX_SCAN_PAGES = 100;
const SCAN_PAGE_SIZE = 2000;

/** A lease is a few hundred bytes and a page of them far below this: anything larger must not fill our memory. */
export const MAX_ISB_RESPONSE_BYTES = 1024 * 1024;

/** The body as text, refusing (and no longer downloading) anything over MAX_ISB_RESPONSE_BYTES. */
async function readCapped(res: Response, what: string): Promise<string> {
  const tooLarge = () => ApplicationFailure.nonRetryable(
    `ISB API response for ${what} exceeds ${MAX_ISB_RESPONSE_BYTES} bytes`, ErrorType.IsbResponseTooLarge);
  if (Number(res.headers.get('content-length')) > MAX_ISB_RESPONSE_BYTES) {
    await res.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Throwing inside for-await cancels the stream, which closes the connection.
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    if (size > MAX_ISB_RESPONSE_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The lease id the ISB API expects in its path: base64 of the JSON {userEmail, uuid}. */
export const encodeLeaseId = (userEmail: string, uuid: string) =>
  Buffer.from(JSON.stringify({ userEmail, uuid })).toString('base64');

/** The bearer token the ISB API accepts: HS256, an Admin user, one hour. Shared with `lease-costs check`. */
export async function signIsbToken(secret: string, now = Math.floor(Date.now() / 1000)): Promise<{ value: string; expiresAt: number }> {
  const value = await new SignJWT({ user: { email: 'lease-costs@system', roles: ['Admin'] } })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + TOKEN_LIFETIME_S)
    .sign(new TextEncoder().encode(secret));
  return { value, expiresAt: now + TOKEN_LIFETIME_S };
}

export function createIsbActivities(deps: IsbDeps) {
  const doFetch = deps.fetch ?? fetch;
  // One read shared by concurrent lookups; a failed read is forgotten, so the next one tries again.
  let secret: Promise<string> | undefined;
  const loadSecretOnce = () => (secret ??= deps.loadSecret().catch((err: unknown) => {
    secret = undefined;
    throw err;
  }));
  let token: { value: string; expiresAt: number } | undefined;

  const bearer = async (): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    if (token && token.expiresAt - RESIGN_BEFORE_EXPIRY_S > now) return token.value;
    token = await signIsbToken(await loadSecretOnce(), now);
    return token.value;
  };

  const get = async (url: string) =>
    doFetch(url, {
      headers: { authorization: `Bearer ${await bearer()}`, accept: 'application/json' },
      signal: AbortSignal.timeout(deps.requestTimeoutMs ?? 15_000),
    });

  /** A GET with the bearer token; on 401 the secret may have rotated: re-read it once, then leave it to the engine's retries. */
  const getAuthorized = async (url: string) => {
    const res = await get(url);
    if (res.status !== 401) return res;
    secret = undefined;
    token = undefined;
    return get(url);
  };
  const base = () => deps.baseUrl.replace(/\/+$/, '');

  /** Every lease the ISB lists (all pages of `GET /leases`), raw, each passed to `keep`. */
  const scanLeases = async <T>(keep: (raw: Record<string, unknown>) => T | undefined): Promise<T[]> => {
    const kept: T[] = [];
    let pageIdentifier: string | undefined;
    for (let page = 0; page < MAX_SCAN_PAGES; page++) {
      const query = new URLSearchParams({ pageSize: String(SCAN_PAGE_SIZE) });
      if (pageIdentifier) query.set('pageIdentifier', pageIdentifier);
      const res = await getAuthorized(`${base()}/leases?${query}`);
      if (res.status === 400) throw ApplicationFailure.nonRetryable(`ISB API rejected the lease list request: ${await res.text()}`, ErrorType.IsbListRejected);
      if (!res.ok) throw new Error(`ISB API answered ${res.status} listing leases`);
      const parsed = LeasePageResponse.safeParse(JSON.parse(await readCapped(res, 'a lease page')));
      if (!parsed.success) throw new Error(`ISB API returned an invalid lease page: ${parsed.error.message}`);
      for (const item of parsed.data.data.result) {
        const t = keep((item ?? {}) as Record<string, unknown>);
        if (t !== undefined) kept.push(t);
      }
      pageIdentifier = parsed.data.data.nextPageIdentifier ?? undefined;
      if (!pageIdentifier) return kept;
    }
    throw new Error(`ISB API lease list did not end within ${MAX_SCAN_PAGES} pages`);
  };

  return {
    /**
     * One page of `GET /leases` (a scan in key order, not by date), reduced to the ended leases
     * whose endDate falls in range: the ISB has no server-side filter for that.
     */
    async listEndedLeases(input: ListEndedLeasesInput): Promise<EndedLeasePage> {
      const query = new URLSearchParams({ pageSize: String(input.pageSize ?? LEASE_LIST_PAGE_SIZE) });
      if (input.pageIdentifier) query.set('pageIdentifier', input.pageIdentifier);
      const res = await getAuthorized(`${base()}/leases?${query}`);
      if (res.status === 400) {
        throw ApplicationFailure.nonRetryable(`ISB API rejected the lease list request: ${await res.text()}`, ErrorType.IsbListRejected);
      }
      if (!res.ok) throw new Error(`ISB API answered ${res.status} listing leases`);
      const parsed = LeasePageResponse.safeParse(JSON.parse(await readCapped(res, 'a lease page')));
      if (!parsed.success) throw new Error(`ISB API returned an invalid lease page: ${parsed.error.message}`);
      const from = Date.parse(input.endedAfter);
      const to = input.endedBefore ? Date.parse(input.endedBefore) : Infinity;
      const leases: EndedLease[] = [];
      const unusable: EndedLeasePage['unusable'] = [];
      for (const item of parsed.data.data.result) {
        const raw = (item ?? {}) as Record<string, unknown>;
        if (!EndedLeaseStatus.safeParse(raw.status).success) continue;
        const endMs = typeof raw.endDate === 'string' ? Date.parse(raw.endDate) : NaN;
        if (!Number.isNaN(endMs) && (endMs < from || endMs >= to)) continue;
        const lease = EndedLease.safeParse({ ...raw, accountId: raw.accountId ?? raw.awsAccountId });
        if (lease.success) {
          leases.push({ uuid: lease.data.uuid, userEmail: lease.data.userEmail, accountId: lease.data.accountId, endDate: lease.data.endDate, status: lease.data.status });
        } else {
          unusable.push({ uuid: typeof raw.uuid === 'string' ? raw.uuid : undefined, reason: lease.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
        }
      }
      const next = parsed.data.data.nextPageIdentifier ?? undefined;
      return { leases, nextPageIdentifier: next, scanned: parsed.data.data.result.length, unusable };
    },

    /**
     * The lease as the ISB API knows it. `accountId` is what the event said: an event that names
     * another account or user than the ISB API fails for good, so no one is sent another's costs.
     */
    async lookupLease(input: { leaseUuid: string; userEmail: string; accountId: string }): Promise<LeaseDetails> {
      const res = await getAuthorized(`${base()}/leases/${encodeURIComponent(encodeLeaseId(input.userEmail, input.leaseUuid))}`);
      if (res.status === 404) {
        throw ApplicationFailure.nonRetryable(`Lease ${input.leaseUuid} does not exist in the ISB API`, ErrorType.LeaseNotFound);
      }
      if (!res.ok) throw new Error(`ISB API answered ${res.status} for lease ${input.leaseUuid}`);
      const parsed = LeaseResponse.safeParse(JSON.parse(await readCapped(res, `lease ${input.leaseUuid}`)));
      if (!parsed.success) {
        throw ApplicationFailure.nonRetryable(`ISB API returned an invalid lease for ${input.leaseUuid}: ${parsed.error.message}`, ErrorType.InvalidLease);
      }
      const lease = parsed.data.data;
      const accountId = (lease.accountId ?? lease.awsAccountId)!;
      const mismatches = [
        lease.uuid.toLowerCase() !== input.leaseUuid.toLowerCase() && `uuid ${lease.uuid}`,
        lease.userEmail.toLowerCase() !== input.userEmail.toLowerCase() && `user ${lease.userEmail}`,
        accountId !== input.accountId && `account ${accountId}`,
      ].filter(Boolean);
      if (mismatches.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `The ISB API says lease ${input.leaseUuid} has ${mismatches.join(', ')}, not what the event said (${input.userEmail}, account ${input.accountId}): nothing is costed or published`,
          ErrorType.LeaseMismatch);
      }
      return {
        uuid: lease.uuid,
        userEmail: lease.userEmail,
        accountId,
        startDate: lease.startDate,
        endDate: lease.endDate,
        status: lease.status,
        costReportGroup: textOf(lease.costReportGroup),
        originalLeaseTemplateName: textOf(lease.originalLeaseTemplateName),
        maxSpend: decimalOf(lease.maxSpend),
        totalCostAccrued: decimalOf(lease.totalCostAccrued),
      };
    },

    /**
     * The other leases the ISB lists for an account, for the days their billing windows share with
     * this one's (the ISB does not enforce its cool-down between leases: its issue #70).
     */
    async listAccountLeases(input: { accountId: string; excludeUuid: string }): Promise<AccountLease[]> {
      return scanLeases((raw) => {
        if ((raw.accountId ?? raw.awsAccountId) !== input.accountId || raw.uuid === input.excludeUuid) return undefined;
        const lease = AccountLease.safeParse(raw);
        return lease.success ? lease.data : undefined;
      });
    },

    /**
     * Leases the ISB monitors (MonitoredLeaseStatusSchema: Active, Frozen) that started before
     * `before`: the month's leases that have no report yet.
     */
    async listActiveLeases(input: { before: string }): Promise<ActiveLease[]> {
      return scanLeases((raw) => {
        if (raw.status !== 'Active' && raw.status !== 'Frozen') return undefined;
        const lease = ActiveLease.safeParse({ ...raw, accountId: raw.accountId ?? raw.awsAccountId, costReportGroup: textOf(raw.costReportGroup) });
        return lease.success && Date.parse(lease.data.startDate) < Date.parse(input.before) ? lease.data : undefined;
      });
    },
  };
}

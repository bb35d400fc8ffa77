import { ApplicationFailure } from '@temporalio/activity';
import Decimal from 'decimal.js';
import { SignJWT } from 'jose';
import { DEFAULT_ISB_JWT_USER_EMAIL } from '../src/domain/defaults';
import { AccountLease, ActiveLease } from '../src/domain/chargeback';
import { ErrorType } from '../src/domain/errors';
import {
  EndedLease,
  EndedLeaseStatus,
  IsbLease,
  IsbLeasePage,
  JSendSuccess,
  type LeaseDetails,
} from '../src/domain/schemas';
import { activityTelemetry } from '../src/infrastructure/telemetry';

export type { LeaseDetails } from '../src/domain/schemas';

export interface IsbDeps {
  baseUrl: string;
  /** Reads the signing secret (Secrets Manager or configuration); called again after a 401 or 403. */
  loadSecret: () => Promise<string>;
  /** The address tokens are signed for (ISB_JWT_USER_EMAIL). */
  userEmail?: string;
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
}

const TOKEN_LIFETIME_S = 3600;
const RESIGN_BEFORE_EXPIRY_S = 300;
/**
 * The least role that reads every lease: `GET /leases` and `GET /leases/{id}` admit User, Manager
 * and Admin at the authorizer (authorizer/src/authorization-map.ts), but the handler refuses a
 * User the list of all leases and anyone else's lease (leases-handler.ts isUserNotAllowedByAll,
 * isUserNotAllowedByEmail).
 */
export const ISB_TOKEN_ROLE = 'Manager';
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
  /** Records the ISB itself dropped from the page for failing its own schema (its `data.error`). */
  invalidRecords: number;
}

/**
 * A lease record is bounded by the ISB's schema (lease.ts): its free text is `comments` (at most
 * 1000 characters, FreeTextSchema, up to 6 bytes each once JSON-escaped) and a few names of at most
 * 50; with the rest that is under 10 KB. A full page of LEASE_LIST_PAGE_SIZE such leases stays
 * under this cap, and anything larger must not fill our memory.
 */
export const MAX_ISB_RESPONSE_BYTES = 8 * 1024 * 1024;

const textOf = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

/** Lease list pages a full scan reads at most, far beyond any ISB (ended leases expire after its leases.ttl). */
const MAX_SCAN_PAGES = 100;

/** The body as text, refusing (and no longer downloading) anything over MAX_ISB_RESPONSE_BYTES. */
async function readCapped(res: Response, what: string): Promise<string> {
  const tooLarge = () =>
    ApplicationFailure.nonRetryable(
      `ISB API response for ${what} exceeds ${MAX_ISB_RESPONSE_BYTES} bytes`,
      ErrorType.IsbResponseTooLarge,
    );
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

/** An error body (read under the same cap), cut short for a message. */
async function errorText(res: Response): Promise<string> {
  const text = await readCapped(res, 'an error').catch(() => '');
  return text.slice(0, 500);
}

/**
 * The lease id the ISB API expects in its path: padded standard base64 of the JSON
 * {userEmail, uuid} (data/encoding.ts base64EncodeCompositeKey). It goes into the path as it is,
 * as the ISB's own frontend sends it (frontend/src/domains/leases/service.ts, `/leases/${id}`):
 * the handler checks the raw path parameter with `z.string().base64()`, and API Gateway does not
 * URL-decode it, so `%3D` for `=` would be refused. A valid e-mail and uuid never give `/`.
 */
export const encodeLeaseId = (userEmail: string, uuid: string) =>
  Buffer.from(JSON.stringify({ userEmail, uuid })).toString('base64');

/**
 * The bearer token the ISB API accepts: HS256 (utils/jwt.ts verifies with jsonwebtoken's
 * defaults), `user` as IsbUserSchema wants it, one hour. Shared with `lease-costs check`.
 */
export async function signIsbToken(
  secret: string,
  userEmail = DEFAULT_ISB_JWT_USER_EMAIL,
  now = Math.floor(Date.now() / 1000),
): Promise<{ value: string; expiresAt: number }> {
  const value = await new SignJWT({ user: { email: userEmail, roles: [ISB_TOKEN_ROLE] } })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + TOKEN_LIFETIME_S)
    .sign(new TextEncoder().encode(secret));
  return { value, expiresAt: now + TOKEN_LIFETIME_S };
}

/** Why the ISB API refused a request, from what each of its layers answers. */
export type IsbRefusal =
  /** 400 from the handler's middleware: the token's `user` fails IsbUserSchema (api-middleware-bundle.ts). */
  | 'invalid-user'
  /** 400 from the handler for the request itself (bad lease id, bad query). */
  | 'bad-request'
  /** 401 from the handler's middleware: the signature does not verify with its (fresh) secret. */
  | 'bad-signature'
  /** 403 from the API Gateway Lambda authorizer: stale or wrong signature, or a role it does not admit. */
  | 'authorizer-denied'
  /** 403 JSend from the handler: the role may not see this (a User listing all leases). */
  | 'role-not-allowed'
  /** 403 from the WAF (waf.ts IsbAllowListRule: the caller's address is not on the allow list). */
  | 'waf-blocked'
  /** 429: the WAF's rate rule (200 requests per 60 s per address) or the stage's throttling. */
  | 'rate-limited';

export function classifyIsbRefusal(status: number, headers: Headers, body: string): IsbRefusal | undefined {
  if (status === 429) return 'rate-limited';
  if (status === 400) return /invalid user object/i.test(body) ? 'invalid-user' : 'bad-request';
  if (status === 401) return 'bad-signature';
  if (status !== 403) return undefined;
  // API Gateway's ACCESS_DENIED gateway response: the authorizer returned a Deny policy.
  if (
    /AccessDenied/i.test(headers.get('x-amzn-errortype') ?? '') ||
    /not authorized to access this resource/i.test(body)
  )
    return 'authorizer-denied';
  // The handler answers JSend; a WAF block is API Gateway's bare `{"message":"Forbidden"}`.
  if (/"status"\s*:\s*"fail"/.test(body)) return 'role-not-allowed';
  return 'waf-blocked';
}

const REFUSAL_TEXT: Record<IsbRefusal, string> = {
  'invalid-user': "refused the token's user claim (ISB_JWT_USER_EMAIL must be an e-mail address the ISB accepts)",
  'bad-request': 'refused the request',
  'bad-signature': "refused the token's signature",
  'authorizer-denied':
    'denied the token at its authorizer (wrong or rotated signing secret, or a role it does not admit)',
  'role-not-allowed': `refused the token's role (${ISB_TOKEN_ROLE} is needed to read every lease)`,
  'waf-blocked': "blocked the request at its WAF (this address is not on the ISB's allow list)",
  'rate-limited': 'rate-limited the request',
};
export const describeIsbRefusal = (refusal: IsbRefusal) => REFUSAL_TEXT[refusal];

const toDecimal = (n: number | undefined) => (n === undefined ? undefined : new Decimal(n).toFixed());

export function createIsbActivities(deps: IsbDeps) {
  const doFetch = deps.fetch ?? fetch;
  const userEmail = deps.userEmail ?? DEFAULT_ISB_JWT_USER_EMAIL;
  // One read shared by concurrent lookups; a failed read is forgotten, so the next one tries again.
  let secret: Promise<string> | undefined;
  const loadSecretOnce = () =>
    (secret ??= deps.loadSecret().catch((err: unknown) => {
      secret = undefined;
      throw err;
    }));
  let token: { value: string; expiresAt: number } | undefined;

  const bearer = async (): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    if (token && token.expiresAt - RESIGN_BEFORE_EXPIRY_S > now) return token.value;
    token = await signIsbToken(await loadSecretOnce(), userEmail, now);
    return token.value;
  };

  const get = async (url: string) =>
    doFetch(url, {
      headers: { authorization: `Bearer ${await bearer()}`, accept: 'application/json' },
      signal: AbortSignal.timeout(deps.requestTimeoutMs ?? 15_000),
    });

  /**
   * A GET with the bearer token. The secret rotates every 30 days (rest-api-all.ts): a token signed
   * with the old one is denied by the authorizer (403) or, past it, by the handler (401). Either way
   * re-read the secret once, then leave it to the engine's retries.
   */
  const getAuthorized = async (url: string) => {
    const res = await get(url);
    if (res.status !== 401 && res.status !== 403) return res;
    await res.body?.cancel();
    secret = undefined;
    token = undefined;
    return get(url);
  };
  const base = () => deps.baseUrl.replace(/\/+$/, '');

  /** A refusal that a retry of the same request cannot change fails for good; the rest is retried. */
  const refused = async (res: Response, what: string, permanentType: ErrorType): Promise<Error> => {
    const text = await errorText(res);
    const refusal = classifyIsbRefusal(res.status, res.headers, text);
    const message = `ISB API answered ${res.status} ${what}${refusal ? `: it ${describeIsbRefusal(refusal)}` : ''}${text ? ` (${text})` : ''}`;
    // 400 (bad token payload, bad id or query) is the same on every retry; 401/403 may be a rotation
    // settling, 429 and 5xx pass.
    return res.status === 400 ? ApplicationFailure.nonRetryable(message, permanentType) : new Error(message);
  };

  /** Every lease the ISB lists (all pages of `GET /leases`), raw, each passed to `keep`. */
  const scanLeases = async <T>(keep: (raw: Record<string, unknown>) => T | undefined): Promise<T[]> => {
    const kept: T[] = [];
    let pageIdentifier: string | undefined;
    for (let page = 0; page < MAX_SCAN_PAGES; page++) {
      const query = new URLSearchParams({ pageSize: String(LEASE_LIST_PAGE_SIZE) });
      if (pageIdentifier) query.set('pageIdentifier', pageIdentifier);
      const res = await getAuthorized(`${base()}/leases?${query}`);
      if (!res.ok) throw await refused(res, 'listing leases', ErrorType.IsbListRejected);
      const parsed = LeasePageResponse.safeParse(JSON.parse(await readCapped(res, 'a lease page')));
      if (!parsed.success) throw new Error(`ISB API returned an invalid lease page: ${parsed.error.message}`);
      if (typeof parsed.data.data.error === 'string') activityTelemetry().isbInvalidRecords(parsed.data.data.error);
      for (const item of parsed.data.data.result) {
        const t = keep((item ?? {}) as Record<string, unknown>);
        if (t !== undefined) kept.push(t);
      }
      pageIdentifier = parsed.data.data.nextPageIdentifier ?? undefined;
      if (!pageIdentifier) return kept;
    }
    throw new Error(`ISB API lease list did not end within ${MAX_SCAN_PAGES} pages`);
  };

  /**
   * The lease as the ISB API knows it. `accountId` is what the event said: an event that names
   * another account or user than the ISB API fails for good, so no one is sent another's costs.
   * `known` is the lease as an earlier run of this lease looked it up: the ISB deletes ended
   * leases after its `leases.ttl` (30 days by default), and a re-run after that costs the lease
   * as it was then instead of failing.
   */
  const lookupOne = async (input: {
    leaseUuid: string;
    userEmail: string;
    accountId: string;
    known?: LeaseDetails;
  }): Promise<LeaseDetails> => {
    const res = await getAuthorized(`${base()}/leases/${encodeLeaseId(input.userEmail, input.leaseUuid)}`);
    if (res.status === 404) {
      await res.body?.cancel();
      if (input.known && input.known.uuid === input.leaseUuid.toLowerCase()) {
        activityTelemetry().leaseFromEarlierRun(input.leaseUuid);
        return input.known;
      }
      // The handler answers 404 both for a lease it does not have and for a record that fails
      // its own schema (leases-handler.ts getLeaseByIdHandler, data/utils.ts parseSingleItemResult).
      throw ApplicationFailure.nonRetryable(
        `The ISB API has no readable lease ${input.leaseUuid} (404): it never existed, was deleted after the ISB's leases.ttl, or its record fails the ISB's own schema`,
        ErrorType.LeaseNotFound,
      );
    }
    if (!res.ok) throw await refused(res, `for lease ${input.leaseUuid}`, ErrorType.IsbRequestRejected);
    const parsed = LeaseResponse.safeParse(JSON.parse(await readCapped(res, `lease ${input.leaseUuid}`)));
    if (!parsed.success) {
      throw ApplicationFailure.nonRetryable(
        `ISB API returned an invalid lease for ${input.leaseUuid}: ${parsed.error.message}`,
        ErrorType.InvalidLease,
      );
    }
    const lease = parsed.data.data;
    const accountId = lease.awsAccountId;
    const mismatches = [
      lease.uuid.toLowerCase() !== input.leaseUuid.toLowerCase() && `uuid ${lease.uuid}`,
      lease.userEmail.toLowerCase() !== input.userEmail.toLowerCase() && `user ${lease.userEmail}`,
      accountId !== input.accountId && `account ${accountId}`,
    ].filter(Boolean);
    if (mismatches.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `The ISB API says lease ${input.leaseUuid} has ${mismatches.join(', ')}, not what the event said (${input.userEmail}, account ${input.accountId}): nothing is costed or published`,
        ErrorType.LeaseMismatch,
      );
    }
    const details: LeaseDetails = {
      uuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId,
      startDate: lease.startDate,
      endDate: lease.endDate,
      status: lease.status,
      costReportGroup: lease.costReportGroup,
      originalLeaseTemplateName: lease.originalLeaseTemplateName,
      maxSpend: toDecimal(lease.maxSpend),
      totalCostAccrued: toDecimal(lease.totalCostAccrued),
    };
    // Absent fields stay out of the payload (and of workflow history).
    return Object.fromEntries(Object.entries(details).filter(([, v]) => v !== undefined)) as LeaseDetails;
  };

  /** The other leases the ISB lists for an account, as the days they share with a lease need them. */
  const accountLeasesOf = (accountId: string, excludeUuid: string): Promise<AccountLease[]> =>
    scanLeases((raw) => {
      if ((raw.accountId ?? raw.awsAccountId) !== accountId || raw.uuid === excludeUuid) return undefined;
      const lease = AccountLease.safeParse(raw);
      return lease.success ? lease.data : undefined;
    });

  return {
    /**
     * The lease, and with `withAccountLeases` the other leases the ISB lists for its account, for
     * the days their billing windows share with this one's (the ISB does not enforce its cool-down
     * between leases: its issue #70). One activity for both keeps the lease's history at one ISB step.
     */
    async lookupLease(
      input: Parameters<typeof lookupOne>[0] & { withAccountLeases?: boolean },
    ): Promise<LeaseDetails & { accountLeases?: AccountLease[] }> {
      const { withAccountLeases, ...one } = input;
      const lease = await lookupOne(one);
      return withAccountLeases
        ? { ...lease, accountLeases: await accountLeasesOf(lease.accountId, lease.uuid) }
        : lease;
    },

    /**
     * One page of `GET /leases` (a scan in key order, not by date), reduced to the ended leases
     * whose endDate falls in range: the ISB has no server-side filter for that.
     */
    async listEndedLeases(input: ListEndedLeasesInput): Promise<EndedLeasePage> {
      const query = new URLSearchParams({ pageSize: String(input.pageSize ?? LEASE_LIST_PAGE_SIZE) });
      if (input.pageIdentifier) query.set('pageIdentifier', input.pageIdentifier);
      const res = await getAuthorized(`${base()}/leases?${query}`);
      if (!res.ok) throw await refused(res, 'listing leases', ErrorType.IsbListRejected);
      const parsed = LeasePageResponse.safeParse(JSON.parse(await readCapped(res, 'a lease page')));
      if (!parsed.success) throw new Error(`ISB API returned an invalid lease page: ${parsed.error.message}`);
      const invalidRecords =
        typeof parsed.data.data.error === 'string' ? activityTelemetry().isbInvalidRecords(parsed.data.data.error) : 0;
      const from = Date.parse(input.endedAfter);
      const to = input.endedBefore ? Date.parse(input.endedBefore) : Infinity;
      const leases: EndedLease[] = [];
      const unusable: EndedLeasePage['unusable'] = [];
      for (const item of parsed.data.data.result) {
        const raw = (item ?? {}) as Record<string, unknown>;
        if (!EndedLeaseStatus.safeParse(raw.status).success) continue;
        const endMs = typeof raw.endDate === 'string' ? Date.parse(raw.endDate) : NaN;
        if (!Number.isNaN(endMs) && (endMs < from || endMs >= to)) continue;
        const lease = EndedLease.safeParse({ ...raw, accountId: raw.awsAccountId });
        if (lease.success) {
          leases.push({
            uuid: lease.data.uuid,
            userEmail: lease.data.userEmail,
            accountId: lease.data.accountId,
            endDate: lease.data.endDate,
            status: lease.data.status,
          });
        } else {
          unusable.push({
            uuid: typeof raw.uuid === 'string' ? raw.uuid : undefined,
            reason: lease.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
          });
        }
      }
      const next = parsed.data.data.nextPageIdentifier ?? undefined;
      return { leases, nextPageIdentifier: next, scanned: parsed.data.data.result.length, unusable, invalidRecords };
    },

    /**
     * Leases the ISB monitors (MonitoredLeaseStatusSchema: Active, Frozen) that started before
     * `before`: the month's leases that have no report yet.
     */
    async listActiveLeases(input: { before: string }): Promise<ActiveLease[]> {
      return scanLeases((raw) => {
        if (raw.status !== 'Active' && raw.status !== 'Frozen') return undefined;
        const lease = ActiveLease.safeParse({
          ...raw,
          accountId: raw.accountId ?? raw.awsAccountId,
          costReportGroup: textOf(raw.costReportGroup),
        });
        return lease.success && Date.parse(lease.data.startDate) < Date.parse(input.before) ? lease.data : undefined;
      });
    },
  };
}

// In-process stand-in for the Innovation Sandbox API: lease lookup and the paginated lease list,
// answering as each layer of the real one does (aws-solutions/innovation-sandbox-on-aws):
// the WAF (infrastructure/lib/components/api/waf.ts), the API Gateway REST API with its Lambda
// authorizer (rest-api-all.ts, lambdas/api/authorizer/src/*), the handler's middleware
// (common/lambda/middleware/api-middleware-bundle.ts) and the leases handler
// (lambdas/api/leases/src/leases-handler.ts, common/data/lease/*).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { SignJWT, jwtVerify, decodeJwt, errors as joseErrors } from 'jose';
import { z } from 'zod';
import { listenOnLoopback } from './listen';

export interface FakeLease {
  uuid: string;
  userEmail: string;
  accountId: string;
  /** ISO date-time */
  startDate: string;
  endDate?: string;
  status: string;
  /** The lease's cost report group (ISB 1.1+: on leases and lease templates); absent as the ISB leaves it out. */
  costReportGroup?: string;
  /** Fields merged into the stored record (e.g. `comments`, or a value the ISB's schema refuses). */
  extra?: Record<string, unknown>;
}

export interface FakeIsbCall {
  seq: number;
  /** Arrival time, ms since epoch. */
  at: number;
  method: string;
  path: string;
  status: number;
  uuid?: string;
  userEmail?: string;
  /** Why the request was refused before the handler read any lease. */
  authError?: string;
  /** Query string of a list call. */
  query?: Record<string, string>;
}

export interface FakeIsbApiOptions {
  jwtSecret: string;
  port?: number;
}

export interface SignTokenOptions {
  email?: string;
  roles?: string[];
  /** Seconds from now; negative for an already expired token. Default 3600. */
  expiresInSeconds?: number;
  /** Default: the fake's current secret. */
  secret?: string;
  /** Omit the exp claim. */
  noExp?: boolean;
}

export interface FakeIsbApi {
  readonly endpoint: string;
  readonly port: number;
  readonly calls: FakeIsbCall[];
  /** The secret tokens are currently verified with. */
  readonly secret: string;
  addLease(lease: FakeLease): void;
  removeLease(userEmail: string, uuid: string): void;
  clear(): void;
  /** The next n requests answer this status (5xx: a JSend error; 429: the WAF's rate-limit answer). */
  failNext(n: number, status?: number): void;
  /** Every request for the next `ms` milliseconds answers a 5xx JSend error (an outage); 0 ends it. */
  failFor(ms: number, status?: number): void;
  setDelayMs(ms: number): void;
  /**
   * The ISB rotated its signing secret. The handler reads the new one within a minute; a warm
   * authorizer keeps the secret it read first until its Lambda is recycled (authorization.ts
   * caches it in a module variable): `authorizerKeepsOld` models that.
   */
  rotateSecret(newSecret: string, opts?: { authorizerKeepsOld?: boolean }): void;
  /** The WAF blocks every request (the caller's address is not on the ISB's allow list) until turned off. */
  setWafBlocked(blocked: boolean): void;
  /** A token the fake accepts (a Manager, one-hour expiry) unless options say otherwise. */
  signToken(options?: SignTokenOptions): Promise<string>;
  /** Clears the call log only. */
  resetCalls(): void;
  /** Drops pending failNext, any failFor outage, the WAF block and the delay. */
  resetFaults(): void;
  close(): Promise<void>;
}

/** Every status the ISB source knows (AllLeaseStatusSchema in common/data/lease/lease.ts): the fake refuses any other. */
export const ISB_LEASE_STATUSES = [
  'PendingApproval',
  'ApprovalDenied',
  'Active',
  'Frozen',
  'Provisioning',
  'Expired',
  'BudgetExceeded',
  'ManuallyTerminated',
  'AccountQuarantined',
  'Ejected',
  'ProvisioningFailed',
] as const;
const MONITORED = new Set(['Active', 'Frozen', 'Provisioning']);
const ENDED = new Set([
  'Expired',
  'BudgetExceeded',
  'ManuallyTerminated',
  'AccountQuarantined',
  'Ejected',
  'ProvisioningFailed',
]);
/** ISB's `leases.ttl` default: an ended record is deleted this long after it ended. */
const LEASE_TTL_DAYS = 30;

/** common/types/isb-types.ts */
const IsbUserSchema = z.object({
  email: z.email(),
  displayName: z.string().optional(),
  userName: z.string().optional(),
  userId: z.string().optional(),
  roles: z.array(z.enum(['Admin', 'Manager', 'User'])).optional(),
});
type IsbUser = z.infer<typeof IsbUserSchema>;

/** LeaseKeySchema (lease.ts); the ISB's zod 3 `uuid()` takes any 8-4-4-4-12 hex, as `guid()` does. */
const LeaseKeySchema = z.object({ userEmail: z.email(), uuid: z.guid() });

/**
 * The ISB's LeaseSchema (lease.ts, lease-template.ts, utils/zod.ts), enough of it to refuse what it
 * refuses in the fields a record here can carry. One leniency: an ended lease may lack `endDate`,
 * so that tests can leave the lease's end to the event's time.
 */
const IsoUtc = z.iso.datetime();
const LeaseRecordSchema = z
  .object({
    userEmail: z.email(),
    uuid: z.guid(),
    status: z.enum(ISB_LEASE_STATUSES),
    originalLeaseTemplateUuid: z.guid(),
    originalLeaseTemplateName: z.string().min(1).max(50),
    comments: z.string().max(1000).optional(),
    maxSpend: z.number().gt(0).optional(),
    leaseDurationInHours: z.number().gt(0).optional(),
    costReportGroup: z.string().min(1).max(50).optional(),
    meta: z
      .object({
        schemaVersion: z.number().int().min(1).max(3),
        createdTime: IsoUtc.optional(),
        lastEditTime: IsoUtc.optional(),
      })
      .optional(),
    awsAccountId: z
      .string()
      .regex(/^\d{12}$/, 'AWS Account ID must be exactly 12 digits')
      .optional(),
    approvedBy: z.union([z.email(), z.literal('AUTO_APPROVED')]).optional(),
    startDate: IsoUtc.optional(),
    expirationDate: IsoUtc.optional(),
    lastCheckedDate: IsoUtc.optional(),
    totalCostAccrued: z.number().optional(),
    endDate: IsoUtc.optional(),
    ttl: z.number().int().nonnegative().optional(),
  })
  .loose()
  .superRefine((r, ctx) => {
    const need = (...fields: (keyof typeof r)[]) => {
      for (const f of fields) if (r[f] === undefined) ctx.addIssue({ code: 'custom', path: [f], message: 'Required' });
    };
    if (MONITORED.has(r.status) || ENDED.has(r.status))
      need('awsAccountId', 'approvedBy', 'startDate', 'lastCheckedDate', 'totalCostAccrued');
    if (ENDED.has(r.status) || r.status === 'ApprovalDenied') need('ttl');
  });

/** authorizer/src/authorization-map.ts, the routes the fake serves. */
const AUTHORIZATION_MAP: Record<string, Partial<Record<string, string[]>>> = {
  '/leases': { GET: ['Manager', 'Admin', 'User'] },
  '/leases/{param}': { GET: ['User', 'Manager', 'Admin'] },
};

/** base64 (standard, padded) of the JSON `{"userEmail":..,"uuid":..}`, as the ISB API expects. */
export function encodeLeaseId(userEmail: string, uuid: string): string {
  return Buffer.from(JSON.stringify({ userEmail, uuid }), 'utf8').toString('base64');
}

const key = (userEmail: string, uuid: string) => `${userEmail}\n${uuid}`;
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}
/** JSend fail/error as createHttpJSendError (common/lambda/middleware/http-error-handler.ts) writes it. */
const jsend = (status: number, message: string, field?: string): Answer => ({
  status,
  body: { status: status >= 500 ? 'error' : 'fail', data: { errors: [{ ...(field ? { field } : {}), message }] } },
});
/** The middy error handler's fallback for anything unexpected (api-middleware-bundle.ts). */
const UNEXPECTED: Answer = { status: 500, body: { status: 'error', message: 'An unexpected error occurred.' } };
/** API Gateway's ACCESS_DENIED gateway response to an authorizer's Deny policy. */
const AUTHORIZER_DENY: Answer = {
  status: 403,
  body: { Message: 'User is not authorized to access this resource with an explicit deny' },
  headers: { 'x-amzn-ErrorType': 'AccessDeniedException' },
};
/** A WAF block on an API Gateway stage. */
const WAF_BLOCK: Answer = {
  status: 403,
  body: { message: 'Forbidden' },
  headers: { 'x-amzn-ErrorType': 'ForbiddenException' },
};
/** waf.ts IsbRateLimitRule's custom response. */
const WAF_RATE_LIMITED: Answer = { status: 429, body: { message: 'Too many requests' } };

export async function startFakeIsbApi(opts: FakeIsbApiOptions): Promise<FakeIsbApi> {
  let secret = opts.jwtSecret;
  let authorizerSecret = opts.jwtSecret;
  const records = new Map<string, Record<string, unknown>>();
  const calls: FakeIsbCall[] = [];
  let seq = 0;
  let failQueue: number[] = [];
  let delayMs = 0;
  let outage: { until: number; status: number } | undefined;
  let wafBlocked = false;

  const verify = async (token: string, withSecret: string) => {
    try {
      // jsonwebtoken's verify with default options (utils/jwt.ts): HMAC algorithms, exp when present.
      const { payload } = await jwtVerify(token, encoder.encode(withSecret), {
        algorithms: ['HS256', 'HS384', 'HS512'],
      });
      return { payload };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { error: 'token expired' };
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) return { error: 'bad signature' };
      return { error: `invalid token: ${(err as Error).message}` };
    }
  };

  /** The REQUEST authorizer (authorizer-handler.ts, authorization.ts): Allow, or why it denies. */
  async function authorizer(header: string | undefined, route: string): Promise<string | undefined> {
    const parts = header?.split(' ');
    if (parts?.[0] !== 'Bearer' || !parts[1]) return 'no Bearer token';
    let claimed: unknown;
    try {
      claimed = decodeJwt(parts[1]).user;
    } catch {
      return 'not a JWT';
    }
    const verified = await verify(parts[1], authorizerSecret);
    if (verified.error) return verified.error;
    const roles = ((claimed as IsbUser | undefined)?.roles ?? []) as string[];
    const allowed = AUTHORIZATION_MAP[route]?.GET ?? [];
    return roles.some((r) => allowed.includes(r)) ? undefined : `no role of ${JSON.stringify(roles)} may GET ${route}`;
  }

  /** captureIsbUser in api-middleware-bundle.ts: the handler verifies again, with its own (fresh) secret. */
  async function middleware(header: string): Promise<{ user: IsbUser } | { answer: Answer; why: string }> {
    const token = /^Bearer\s+(\S+)$/.exec(header)![1]!;
    const verified = await verify(token, secret);
    if (verified.error) return { answer: jsend(401, 'Invalid bearer token.'), why: `handler: ${verified.error}` };
    const user = IsbUserSchema.safeParse(verified.payload!.user);
    if (!user.success)
      return { answer: jsend(400, 'Token payload has invalid user object.'), why: 'handler: invalid user object' };
    return { user: user.data };
  }

  /** A stored record as the ISB reads it back: valid, or dropped with the reason (data/utils.ts parseResults). */
  const parsed = (record: Record<string, unknown>) => LeaseRecordSchema.safeParse(record);
  const withLeaseId = (r: Record<string, unknown>) => ({
    ...r,
    leaseId: encodeLeaseId(String(r.userEmail), String(r.uuid)),
  });

  /** leases-handler.ts getLeasesHandler + DynamoLeaseStore.findAll (a Scan: key order, `Limit: pageSize`). */
  function listPage(user: IsbUser, query: Record<string, string>): Answer {
    const { pageSize: sizeText, pageIdentifier, userEmail } = query;
    // createPaginationQueryStringParametersSchema({ maxPageSize: 2000 }): coerced integer 1..2000, default 2000.
    const pageSize = z.coerce.number().int().gt(0).lte(2000).default(2000).safeParse(sizeText);
    if (!pageSize.success) return jsend(400, pageSize.error.issues[0]!.message, 'pageSize');
    if (userEmail !== undefined && !z.email().safeParse(userEmail).success)
      return jsend(400, 'Invalid email address', 'userEmail');
    const onlyUser = user.roles?.length === 1 && user.roles[0] === 'User';
    if (userEmail === undefined && onlyUser) return jsend(403, 'User is not authorized to get all leases.');
    if (userEmail !== undefined && onlyUser && userEmail !== user.email)
      return jsend(403, 'User is not authorized to get the requested leases.');
    let after: string | undefined;
    if (pageIdentifier !== undefined) {
      // base64DecodeCompositeKey: JSON.parse of whatever the base64 decodes to; anything that is not a
      // key of the table then fails in DynamoDB. Either is an unhandled error: 500.
      try {
        const k = LeaseKeySchema.strict().parse(JSON.parse(Buffer.from(pageIdentifier, 'base64').toString('utf8')));
        after = key(k.userEmail, k.uuid);
      } catch {
        return UNEXPECTED;
      }
    }
    const keys = [...records.keys()].filter((k) => after === undefined || k > after).sort();
    const page = keys.slice(0, pageSize.data);
    const scanned = page
      .map((k) => records.get(k)!)
      .filter((r) => userEmail === undefined || r.userEmail === userEmail);
    const results = scanned.map(parsed);
    const errors = results.filter((r) => !r.success).map((r) => r.error!.message);
    const last = page.length === pageSize.data ? records.get(page.at(-1)!) : undefined;
    return {
      status: 200,
      body: {
        status: 'success',
        data: {
          result: results.filter((r) => r.success).map((r) => withLeaseId(r.data!)),
          ...(errors.length
            ? { error: `${errors.length} invalid records found: ${errors.map((e) => `\n  ${e}`).join('')}` }
            : {}),
          nextPageIdentifier: last ? encodeLeaseId(String(last.userEmail), String(last.uuid)) : null,
        },
      },
    };
  }

  /** leases-handler.ts getLeaseByIdHandler, parseLeaseCompositeKeyFromPathParameters. */
  function getLease(user: IsbUser, rawId: string, call: FakeIsbCall): Answer {
    // The raw path parameter: API Gateway REST APIs do not URL-decode it, nor does the handler.
    if (!z.base64().safeParse(rawId).success) return jsend(400, 'Invalid base64', 'leaseId');
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(rawId, 'base64').toString('utf8'));
    } catch {
      return jsend(400, 'LeaseId path parameter provided is invalid.');
    }
    const leaseKey = LeaseKeySchema.safeParse(decoded);
    if (!leaseKey.success)
      return jsend(400, leaseKey.error.issues[0]!.message, String(leaseKey.error.issues[0]!.path.join('.') || 'input'));
    call.uuid = leaseKey.data.uuid;
    call.userEmail = leaseKey.data.userEmail;
    const record = records.get(key(leaseKey.data.userEmail, leaseKey.data.uuid));
    // A record that fails the ISB's schema reads as none (parseSingleItemResult): 404 as well.
    const lease = record && parsed(record);
    if (!lease?.success) return jsend(404, 'Lease not found.');
    if (user.roles?.length === 1 && user.roles[0] === 'User' && user.email !== lease.data.userEmail) {
      return jsend(403, 'Active user is not authorized to view leases of requested user.');
    }
    return { status: 200, body: { status: 'success', data: withLeaseId(lease.data) } };
  }

  async function respond(req: IncomingMessage, call: FakeIsbCall): Promise<Answer> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const fail = failQueue.shift() ?? (outage && call.at < outage.until ? outage.status : undefined);
    if (wafBlocked) return WAF_BLOCK;
    if (fail === 429) return WAF_RATE_LIMITED;
    if (fail !== undefined) return { status: fail, body: { status: 'error', message: `Injected failure (${fail})` } };
    // The raw path, as API Gateway matches it: `%3D` stays `%3D`.
    const byId = /^\/leases\/([^/]+)$/.exec(url.pathname);
    const route = /^\/leases\/?$/.test(url.pathname) ? '/leases' : byId ? '/leases/{param}' : undefined;
    if (route === '/leases') call.query = Object.fromEntries(url.searchParams);
    // API Gateway: no resource for the path, or no method on it.
    if (!route || req.method !== 'GET')
      return {
        status: 403,
        body: { message: 'Missing Authentication Token' },
        headers: { 'x-amzn-ErrorType': 'MissingAuthenticationTokenException' },
      };
    // A REQUEST authorizer whose identity source (the Authorization header) is absent: API Gateway's 401.
    if (!req.headers.authorization) {
      call.authError = 'missing Authorization header';
      return {
        status: 401,
        body: { message: 'Unauthorized' },
        headers: { 'x-amzn-ErrorType': 'UnauthorizedException' },
      };
    }
    const denied = await authorizer(req.headers.authorization, route);
    if (denied) {
      call.authError = `authorizer: ${denied}`;
      return AUTHORIZER_DENY;
    }
    const checked = await middleware(req.headers.authorization);
    if ('answer' in checked) {
      call.authError = checked.why;
      return checked.answer;
    }
    return route === '/leases' ? listPage(checked.user, call.query ?? {}) : getLease(checked.user, byId![1]!, call);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const call: FakeIsbCall = {
      seq: ++seq,
      at: Date.now(),
      method: req.method ?? '',
      path: (req.url ?? '/').split('?')[0]!,
      status: 0,
    };
    req.resume();
    const answer = await respond(req, call);
    if (delayMs > 0) await sleep(delayMs);
    call.status = answer.status;
    calls.push(call);
    const text = JSON.stringify(answer.body);
    if (!res.destroyed) {
      res
        .writeHead(answer.status, {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(text),
          ...answer.headers,
        })
        .end(text);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent)
        res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify(UNEXPECTED.body));
    });
  });
  const { endpoint, port } = await listenOnLoopback(server, opts.port);

  return {
    endpoint,
    port,
    calls,
    get secret() {
      return secret;
    },
    addLease(lease) {
      if (!(ISB_LEASE_STATUSES as readonly string[]).includes(lease.status))
        throw new Error(`the ISB has no lease status ${lease.status}`);
      records.set(key(lease.userEmail, lease.uuid), leaseRecord(lease));
    },
    removeLease(userEmail, uuid) {
      records.delete(key(userEmail, uuid));
    },
    clear() {
      records.clear();
    },
    failNext(n, status = 503) {
      for (let i = 0; i < n; i++) failQueue.push(status);
    },
    failFor(ms, status = 503) {
      outage = ms > 0 ? { until: Date.now() + ms, status } : undefined;
    },
    setDelayMs(ms) {
      delayMs = ms;
    },
    rotateSecret(newSecret, o = {}) {
      secret = newSecret;
      if (!o.authorizerKeepsOld) authorizerSecret = newSecret;
    },
    setWafBlocked(blocked) {
      wafBlocked = blocked;
    },
    async signToken(o = {}) {
      const jwt = new SignJWT({
        user: { email: o.email ?? 'lease-costs@innovation-sandbox.local', roles: o.roles ?? ['Manager'] },
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuedAt();
      if (!o.noExp) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresInSeconds ?? 3600));
      return jwt.sign(encoder.encode(o.secret ?? secret));
    },
    resetCalls() {
      calls.length = 0;
    },
    resetFaults() {
      failQueue = [];
      outage = undefined;
      delayMs = 0;
      wafBlocked = false;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The record the ISB would store for such a lease (PendingLeaseSchema … ExpiredLeaseSchema in lease.ts). */
function leaseRecord(l: FakeLease): Record<string, unknown> {
  const base: Record<string, unknown> = {
    uuid: l.uuid,
    userEmail: l.userEmail,
    status: l.status,
    originalLeaseTemplateUuid: '00000000-0000-4000-8000-000000000000',
    originalLeaseTemplateName: 'sandbox',
    leaseDurationInHours: 24,
    maxSpend: 50,
    meta: { schemaVersion: 3, createdTime: l.startDate, lastEditTime: l.endDate ?? l.startDate },
    ...(l.costReportGroup !== undefined ? { costReportGroup: l.costReportGroup } : {}),
  };
  if (l.status === 'PendingApproval') return { ...base, ...l.extra };
  const ttlFrom = Date.parse(l.endDate ?? l.startDate) / 1000;
  if (l.status === 'ApprovalDenied') return { ...base, ttl: Math.floor(ttlFrom + LEASE_TTL_DAYS * 86_400), ...l.extra };
  const record: Record<string, unknown> = {
    ...base,
    awsAccountId: l.accountId,
    approvedBy: 'AUTO_APPROVED',
    startDate: l.startDate,
    lastCheckedDate: l.endDate ?? l.startDate,
    totalCostAccrued: 0,
  };
  if (ENDED.has(l.status)) {
    if (l.endDate !== undefined) record.endDate = l.endDate;
    record.ttl = Math.floor(ttlFrom + LEASE_TTL_DAYS * 86_400);
  }
  return { ...record, ...l.extra };
}

// In-process stand-in for the Innovation Sandbox API: lease lookup and the paginated lease list
// (JSend, HS256 JWT), shaped after the ISB source (leases-handler.ts, dynamo-lease-store.ts).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
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
  /** Answer with `awsAccountId` (as ISB itself does) instead of `accountId`. */
  useAwsAccountIdField?: boolean;
  /** Extra fields merged into the lease data. */
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
  /** Why a 401 was answered. */
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
  /** The next n requests answer a 5xx JSend error. */
  failNext(n: number, status?: number): void;
  /** Every request for the next `ms` milliseconds answers a 5xx JSend error (an outage); 0 ends it. */
  failFor(ms: number, status?: number): void;
  setDelayMs(ms: number): void;
  /** Tokens signed with the old secret get 401 from now on. */
  rotateSecret(newSecret: string): void;
  /** A token the fake accepts (Admin role, one-hour expiry) unless options say otherwise. */
  signToken(options?: SignTokenOptions): Promise<string>;
  /** Clears the call log only. */
  resetCalls(): void;
  /** Drops pending failNext, any failFor outage and the delay. */
  resetFaults(): void;
  close(): Promise<void>;
}

/** base64 (standard) of the JSON `{"userEmail":..,"uuid":..}`, as the ISB API expects. */
export function encodeLeaseId(userEmail: string, uuid: string): string {
  return Buffer.from(JSON.stringify({ userEmail, uuid }), 'utf8').toString('base64');
}

function decodeLeaseId(id: string): { userEmail: string; uuid: string } | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(id)) return undefined;
  const b64 = id.replace(/-/g, '+').replace(/_/g, '/');
  try {
    const v = JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as Record<string, unknown>;
    if (v && typeof v.userEmail === 'string' && typeof v.uuid === 'string') return { userEmail: v.userEmail, uuid: v.uuid };
  } catch { /* fall through */ }
  return undefined;
}

const key = (userEmail: string, uuid: string) => `${userEmail}\n${uuid}`;
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startFakeIsbApi(opts: FakeIsbApiOptions): Promise<FakeIsbApi> {
  let secret = opts.jwtSecret;
  const leases = new Map<string, FakeLease>();
  const calls: FakeIsbCall[] = [];
  let seq = 0;
  let failQueue: number[] = [];
  let delayMs = 0;
  let outage: { until: number; status: number } | undefined;

  async function authorize(header: string | undefined): Promise<string | undefined> {
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) return 'missing bearer token';
    try {
      const { payload } = await jwtVerify(m[1]!, encoder.encode(secret), { algorithms: ['HS256'], requiredClaims: ['exp'] });
      const user = payload.user as { email?: unknown; roles?: unknown } | undefined;
      if (!user || typeof user.email !== 'string' || !Array.isArray(user.roles)) return 'token has no user claim';
      if (!user.roles.includes('Admin')) return 'token lacks the Admin role';
      return undefined;
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return 'token expired';
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
      return `invalid token: ${(err as Error).message}`;
    }
  }

  /**
   * `GET /leases`: like the ISB, a DynamoDB Scan with `Limit: pageSize` (1..2000), in key order, not
   * by date; `nextPageIdentifier` is base64 of the last key read, and is still given when a page
   * ends exactly at the last lease (the next page is then empty), as DynamoDB does.
   */
  function listPage(query: Record<string, string>): { status: number; body: unknown } {
    const { pageSize: sizeText, pageIdentifier, userEmail } = query;
    const pageSize = sizeText === undefined ? undefined : Number(sizeText);
    if (pageSize !== undefined && (!/^\d+$/.test(sizeText!) || pageSize < 1 || pageSize > 2000)) {
      return { status: 400, body: { status: 'fail', data: { errors: [{ field: 'pageSize', message: 'Number must be between 1 and 2000' }] } } };
    }
    let after: string | undefined;
    if (pageIdentifier !== undefined) {
      const decoded = decodeLeaseId(pageIdentifier);
      if (!decoded) return { status: 400, body: { status: 'fail', data: { errors: [{ field: 'pageIdentifier', message: 'Invalid page identifier' }] } } };
      after = key(decoded.userEmail, decoded.uuid);
    }
    const keys = [...leases.keys()].filter((k) => (after === undefined || k > after) && (!userEmail || leases.get(k)!.userEmail === userEmail)).sort();
    const page = keys.slice(0, pageSize ?? keys.length);
    const last = pageSize !== undefined && page.length === pageSize ? leases.get(page.at(-1)!) : undefined;
    return {
      status: 200,
      body: {
        status: 'success',
        data: {
          result: page.map((k) => {
            const l = leases.get(k)!;
            return { ...leaseData({ ...l, useAwsAccountIdField: true }), leaseId: encodeLeaseId(l.userEmail, l.uuid) };
          }),
          nextPageIdentifier: last ? encodeLeaseId(last.userEmail, last.uuid) : null,
        },
      },
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const path = (req.url ?? '/').split('?')[0]!;
    const call: FakeIsbCall = { seq: ++seq, at, method: req.method ?? '', path, status: 0 };
    req.resume();
    let status: number;
    let body: unknown;
    const fail = failQueue.shift() ?? (outage && at < outage.until ? outage.status : undefined);
    const route = /\/leases\/([^/]+)$/.exec(path);
    const isList = /\/leases\/?$/.test(path);
    if (isList) call.query = Object.fromEntries(new URL(req.url ?? '/', 'http://fake').searchParams);
    if (fail !== undefined) {
      status = fail;
      body = { status: 'error', message: `Injected failure (${fail})` };
    } else if (isList && req.method === 'GET') {
      const authError = await authorize(req.headers.authorization);
      if (authError) {
        call.authError = authError;
        status = 401;
        body = { status: 'fail', data: { message: `Unauthorized: ${authError}` } };
      } else {
        ({ status, body } = listPage(call.query ?? {}));
      }
    } else if (!route) {
      status = 404;
      body = { status: 'fail', data: { message: `No route for ${req.method} ${path}` } };
    } else if (req.method !== 'GET') {
      status = 405;
      body = { status: 'fail', data: { message: `Method ${req.method} not allowed` } };
    } else {
      const authError = await authorize(req.headers.authorization);
      let id: { userEmail: string; uuid: string } | undefined;
      try {
        id = decodeLeaseId(decodeURIComponent(route[1]!));
      } catch {
        id = undefined;
      }
      call.uuid = id?.uuid;
      call.userEmail = id?.userEmail;
      if (authError) {
        call.authError = authError;
        status = 401;
        body = { status: 'fail', data: { message: `Unauthorized: ${authError}` } };
      } else if (!id) {
        status = 400;
        body = { status: 'fail', data: { message: 'Invalid lease id: expected base64 of {"userEmail","uuid"}' } };
      } else {
        const lease = leases.get(key(id.userEmail, id.uuid));
        if (!lease) {
          status = 404;
          body = { status: 'fail', data: { message: 'Lease not found' } };
        } else {
          status = 200;
          body = { status: 'success', data: leaseData(lease) };
        }
      }
    }
    if (delayMs > 0) await sleep(delayMs);
    call.status = status;
    calls.push(call);
    const text = JSON.stringify(body);
    if (!res.destroyed) {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'error', message: String(err) }));
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
      if (!(ISB_LEASE_STATUSES as readonly string[]).includes(lease.status)) throw new Error(`the ISB has no lease status ${lease.status}`);
      leases.set(key(lease.userEmail, lease.uuid), { ...lease });
    },
    removeLease(userEmail, uuid) {
      leases.delete(key(userEmail, uuid));
    },
    clear() {
      leases.clear();
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
    rotateSecret(newSecret) {
      secret = newSecret;
    },
    async signToken(o = {}) {
      const jwt = new SignJWT({ user: { email: o.email ?? 'lease-costs@example.com', roles: o.roles ?? ['Admin'] } })
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
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Every status the ISB source knows (AllLeaseStatusSchema): the fake refuses any other. */
export const ISB_LEASE_STATUSES = [
  'PendingApproval', 'ApprovalDenied', 'Active', 'Frozen', 'Provisioning',
  'Expired', 'BudgetExceeded', 'ManuallyTerminated', 'UserTerminated', 'AccountQuarantined', 'Ejected', 'ProvisioningFailed',
] as const;

/** ISB statuses whose leases never had an account (PendingLeaseSchema, ApprovalDeniedLeaseSchema). */
const ACCOUNTLESS = new Set(['PendingApproval', 'ApprovalDenied']);

function leaseData(l: FakeLease): Record<string, unknown> {
  if (ACCOUNTLESS.has(l.status)) {
    return {
      uuid: l.uuid, userEmail: l.userEmail, status: l.status, originalLeaseTemplateName: 'sandbox',
      originalLeaseTemplateUuid: '00000000-0000-4000-8000-000000000000', leaseDurationInHours: 24, maxSpend: 50,
      meta: { schemaVersion: 1, createdTime: l.startDate, lastEditTime: l.startDate },
      ...(l.costReportGroup !== undefined ? { costReportGroup: l.costReportGroup } : {}), ...l.extra,
    };
  }
  const data: Record<string, unknown> = {
    uuid: l.uuid,
    userEmail: l.userEmail,
    [l.useAwsAccountIdField ? 'awsAccountId' : 'accountId']: l.accountId,
    startDate: l.startDate,
    status: l.status,
    originalLeaseTemplateName: 'sandbox',
    originalLeaseTemplateUuid: '00000000-0000-4000-8000-000000000000',
    leaseDurationInHours: 24,
    maxSpend: 50,
    totalCostAccrued: 0,
    approvedBy: 'AUTO_APPROVED',
    meta: { schemaVersion: 1, createdTime: l.startDate, lastEditTime: l.endDate ?? l.startDate },
    ...(l.costReportGroup !== undefined ? { costReportGroup: l.costReportGroup } : {}),
    ...l.extra,
  };
  if (l.endDate !== undefined) data.endDate = l.endDate;
  return data;
}

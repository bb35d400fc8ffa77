// A faithful in-process Cost Explorer (AWS JSON 1.1) for tests, the demo and the benchmark.
// The real SDK talks to it over real HTTP; errors use the codes the real service models.
// This module holds the HTTP side and the handle; each concern it calls keeps its own state.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { listenOnLoopback } from '../listen';
import { CeError, errorBody } from './errors';
import { arrivedAt, Faults, type AccessDeniedConfig, type FailAtConfig, type ThrottleConfig } from './faults';
import { pageOffset, Pager, readPageToken } from './pagination';
import { linkedAccountsOf, OPERATIONS, QueryRules, type CeOperation } from './query';
import { CostStore, type ExpectedTotalFilter, type FakeCostItem } from './store';

export interface FakeCostExplorerOptions {
  port?: number;
  /** 'YYYY-MM-DD'; default the real UTC date. Drives the 14-day and next-month rules. */
  today?: string;
  /** Groups per page (default 500). */
  pageSize?: number;
  /** Default true. */
  resourceLevelEnabled?: boolean;
  /** Whether GetCostAndUsageWithResources accepts MONTHLY (its data is daily; default true). */
  monthlyResourcesAccepted?: boolean;
  /**
   * The API reference's strict reading of GetCostAndUsageWithResources' filter ("requires the
   * Expression SERVICE = …"): a resource query whose filter names no SERVICE at its top level,
   * or more than one service there, is refused. Default false: the reference, the system we
   * replace (one service at a time) and Steampipe (one LINKED_ACCOUNT) disagree.
   */
  oneServicePerResourceQuery?: boolean;
  delayMs?: number;
  throttle?: ThrottleConfig;
  /** Seed for `throttle.probability` (deterministic runs). */
  seed?: number;
}

export interface FakeCeCall {
  seq: number;
  /** Arrival time, ms since epoch. */
  at: number;
  operation: string;
  accessKeyId?: string;
  hasSessionToken: boolean;
  /** Recorded so tests can prove the token never reaches workflow history. */
  sessionToken?: string;
  /** Parsed JSON body (undefined if it did not parse). */
  request: unknown;
  /** 0 without a token, the token's page otherwise, -1 for an undecodable token. */
  pageIndex: number;
  pageToken?: string;
  status: number;
  errorCode?: string;
  groupsReturned: number;
  durationMs: number;
}

export interface FakeCeStats {
  total: number;
  ok: number;
  throttled: number;
  /** Any non-200 answer other than throttling. */
  failed: number;
  byOperation: Record<string, number>;
}

export interface FakeCostExplorer {
  readonly endpoint: string;
  readonly port: number;
  readonly calls: FakeCeCall[];
  addCost(item: FakeCostItem): void;
  addCosts(items: Iterable<FakeCostItem>): void;
  clear(): void;
  /** Number of stored cost records. */
  size(): number;
  expectedTotal(filter: ExpectedTotalFilter): string;
  setThrottle(config: ThrottleConfig | null | undefined): void;
  failNext(n: number, status?: number, code?: string): void;
  failAt(config: FailAtConfig): void;
  setDelayMs(ms: number): void;
  setAccessDenied(denied: boolean, config?: AccessDeniedConfig): void;
  setResourceLevelEnabled(enabled: boolean): void;
  setMonthlyResourcesAccepted(accepted: boolean): void;
  setOneServicePerResourceQuery(required: boolean): void;
  setPageSize(n: number): void;
  setToday(date: string | undefined): void;
  /**
   * Session tokens expire after `calls` accepted calls each: from then on a request signed with
   * that token gets `ExpiredTokenException` (HTTP 400), as when a role session ends before the
   * expiry the caller was told. `undefined` turns it off. Requests without a token are unaffected.
   */
  setSessionTokenLifetime(calls: number | undefined): void;
  /** Session tokens rejected as expired so far. */
  expiredSessionTokens(): string[];
  stats(): FakeCeStats;
  /** Clears the call log only. */
  resetCalls(): void;
  /** Throttling, injected failures, delay, access denial, token expiry off; resource-level data on. */
  resetFaults(): void;
  close(): Promise<void>;
}

const TARGET_PREFIX = 'AWSInsightsIndexService.';
const MAX_BODY = 1 << 20;

function accessKeyFrom(auth: string | undefined): string | undefined {
  const m = auth ? /Credential=([^/,\s]+)\//.exec(auth) : null;
  return m?.[1];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new CeError(400, 'SerializationException', 'Request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function statsOf(calls: FakeCeCall[]): FakeCeStats {
  const st: FakeCeStats = { total: calls.length, ok: 0, throttled: 0, failed: 0, byOperation: {} };
  for (const c of calls) {
    if (c.status === 200) st.ok++;
    else if (c.errorCode === 'LimitExceededException') st.throttled++;
    else st.failed++;
    st.byOperation[c.operation] = (st.byOperation[c.operation] ?? 0) + 1;
  }
  return st;
}

export async function startFakeCostExplorer(opts: FakeCostExplorerOptions = {}): Promise<FakeCostExplorer> {
  const rules = new QueryRules(opts);
  const store = new CostStore();
  const pager = new Pager(opts.pageSize);
  const faults = new Faults(opts);
  const log = { calls: [] as FakeCeCall[], seq: 0 };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = arrivedAt(req.headers);
    const call: FakeCeCall = {
      seq: ++log.seq,
      at,
      operation: '',
      accessKeyId: accessKeyFrom(req.headers.authorization),
      hasSessionToken: typeof req.headers['x-amz-security-token'] === 'string',
      sessionToken:
        typeof req.headers['x-amz-security-token'] === 'string' ? req.headers['x-amz-security-token'] : undefined,
      request: undefined,
      pageIndex: 0,
      status: 0,
      groupsReturned: 0,
      durationMs: 0,
    };
    let status = 200;
    let payload: unknown;
    try {
      const raw = await readBody(req);
      const target = String(req.headers['x-amz-target'] ?? '');
      call.operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
      if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') {
        throw new CeError(404, 'UnknownOperationException', `No route for ${req.method} ${req.url}`);
      }
      if (!target.startsWith(TARGET_PREFIX) || !OPERATIONS.includes(call.operation)) {
        throw new CeError(
          400,
          'UnknownOperationException',
          `Operation ${target || '(none)'} is not supported by this fake`,
        );
      }
      const op = call.operation as CeOperation;
      let body: Record<string, unknown>;
      try {
        body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
      } catch {
        throw new CeError(400, 'SerializationException', 'Request body is not valid JSON');
      }
      if (!body || typeof body !== 'object' || Array.isArray(body))
        throw new CeError(400, 'SerializationException', 'Request body must be a JSON object');
      call.request = body;
      const page = readPageToken(body);
      if (page.token !== undefined) call.pageToken = page.token;
      call.pageIndex = page.index;
      if (!call.accessKeyId)
        throw new CeError(400, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
      faults.checkSessionToken(call.sessionToken);
      faults.checkThrottle(at, linkedAccountsOf(body));
      faults.checkFailNext();
      faults.checkAccessDenied(op);
      rules.checkResourceLevel(op);
      const q = rules.parse(op, body);
      const offset = pageOffset(page, q);
      faults.checkFailAt(call.pageIndex, op);
      const result = pager.buildPage(q, store.flatten(q), offset, call.pageIndex);
      payload = result.body;
      call.groupsReturned = result.groupsReturned;
    } catch (err) {
      const e =
        err instanceof CeError ? err : new CeError(500, 'InternalFailure', String((err as Error)?.message ?? err));
      status = e.status;
      call.errorCode = e.code;
      payload = errorBody(e);
    }
    await faults.delay();
    call.status = status;
    call.durationMs = Date.now() - at;
    log.calls.push(call);
    const text = JSON.stringify(payload);
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/x-amz-json-1.1',
      'Content-Length': Buffer.byteLength(text),
      'x-amzn-RequestId': randomUUID(),
    };
    if (call.errorCode) headers['x-amzn-ErrorType'] = call.errorCode;
    if (!res.destroyed) res.writeHead(status, headers).end(text);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  const { endpoint, port } = await listenOnLoopback(server, opts.port);

  return {
    endpoint,
    port,
    calls: log.calls,
    addCost: (item) => store.add(item),
    addCosts(items) {
      for (const it of items) store.add(it);
    },
    clear: () => store.clear(),
    size: () => store.size(),
    expectedTotal: (f) => store.expectedTotal(f),
    setThrottle: (config) => faults.setThrottle(config),
    failNext: (n, status, code) => faults.failNext(n, status, code),
    failAt: (config) => faults.failAt(config),
    setDelayMs(ms) {
      faults.delayMs = ms;
    },
    setAccessDenied: (denied, config) => faults.setAccessDenied(denied, config),
    setResourceLevelEnabled(enabled) {
      rules.resourceLevelEnabled = enabled;
    },
    setMonthlyResourcesAccepted(accepted) {
      rules.monthlyResourcesAccepted = accepted;
    },
    setOneServicePerResourceQuery(required) {
      rules.oneServicePerResourceQuery = required;
    },
    setPageSize: (n) => pager.setPageSize(n),
    setToday: (date) => rules.setToday(date),
    setSessionTokenLifetime: (n) => faults.setSessionTokenLifetime(n),
    expiredSessionTokens: () => faults.expiredSessionTokens(),
    stats: () => statsOf(log.calls),
    resetCalls() {
      log.calls.length = 0;
    },
    resetFaults() {
      faults.reset();
      rules.reset();
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// A faithful in-process Cost Explorer (AWS JSON 1.1) for tests, the demo and the benchmark.
// The real SDK talks to it over real HTTP; errors use the codes the real service models.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import Decimal from 'decimal.js';
import { listenOnLoopback } from './listen';

// Sums must stay exact however many amounts are added.
const Dec = Decimal.clone({ precision: 1000, rounding: Decimal.ROUND_HALF_EVEN });
type Dec = InstanceType<typeof Dec>;

export type CeOperation = 'GetCostAndUsage' | 'GetCostAndUsageWithResources';
export type RecordType = 'Usage' | 'Credit' | 'Refund' | 'Tax';

export interface FakeCostItem {
  accountId: string;
  /** YYYY-MM-DD (UTC usage day) */
  date: string;
  service: string;
  resourceId: string;
  region: string;
  /** Plain decimal string, kept exact: UnblendedCost (and BlendedCost, NetUnblendedCost). */
  amount: string;
  /**
   * AmortizedCost (and NetAmortizedCost), exact; default `amount`. It differs where a Savings Plan
   * or reservation spreads its upfront fee over the usage it covers.
   */
  amortizedAmount?: string;
  recordType?: RecordType;
}

export interface ThrottleConfig {
  /**
   * Throttle every Nth call of each linked account (the request's LINKED_ACCOUNT filter; calls
   * without one count together), counted from the last setThrottle: each lease meets the same
   * pattern however the leases' calls interleave.
   */
  everyNth?: number;
  /** Throttle each call with this probability (0..1). */
  probability?: number;
  /** Throttle calls beyond N accepted calls in the trailing second, across all callers. */
  maxRps?: number;
}

export interface FailAtConfig {
  /** 0 = the first page (no token); undefined = any page. */
  pageIndex?: number;
  /** Default 500. */
  status?: number;
  /** How many matching requests fail. Default 1. */
  times?: number;
  /** Error code; default from the status (see errorCodeForStatus). */
  code?: string;
  operation?: CeOperation;
}

export interface AccessDeniedConfig {
  /** Principal named in the message. */
  principalArn?: string;
}

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

export interface ExpectedTotalFilter {
  accountId?: string;
  /** Inclusive. */
  start: string;
  /** Exclusive. */
  end: string;
  recordType?: RecordType;
  service?: string;
  region?: string;
  /** Default UnblendedCost. */
  metric?: 'UnblendedCost' | 'AmortizedCost';
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
const OPERATIONS: readonly string[] = ['GetCostAndUsage', 'GetCostAndUsageWithResources'];
const COST_METRICS = new Set(['AmortizedCost', 'BlendedCost', 'NetAmortizedCost', 'NetUnblendedCost', 'UnblendedCost']);
const USAGE_METRICS = new Set(['NormalizedUsageAmount', 'UsageQuantity']);
const AMORTIZED_METRICS = new Set(['AmortizedCost', 'NetAmortizedCost']);
const DIMENSIONS = new Set<string>(['LINKED_ACCOUNT', 'SERVICE', 'REGION', 'RESOURCE_ID', 'RECORD_TYPE']);
const RECORD_TYPES = new Set<string>(['Usage', 'Credit', 'Refund', 'Tax']);
// Modelled Cost Explorer errors carry `Message`; common AWS errors carry `message`.
const MODELLED_ERRORS = new Set([
  'LimitExceededException', 'DataUnavailableException', 'InvalidNextTokenException',
  'RequestChangedException', 'BillExpirationException',
]);
const MSG = {
  limit: 'You made too many calls in a short period of time. Try again later.',
  expiredToken: 'The security token included in the request is expired',
  invalidToken: 'The pagination token is invalid. Try again without a pagination token.',
  requestChanged: 'Your request parameters changed between pages. Try again with the old parameters or without a pagination token.',
  resourceDisabled: 'Resource-level data is not enabled for this account. Enable hourly and resource-level data in the Cost Management preferences of the management account.',
};
const DAY_MS = 86_400_000;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const AMOUNT_RE = /^-?\d+(\.\d+)?$/;
const MAX_BODY = 1 << 20;

/** The LINKED_ACCOUNT values a request's filter names, as one key ('' when it names none). */
function linkedAccountsOf(body: Record<string, unknown>): string {
  const found: string[] = [];
  const walk = (e: unknown): void => {
    if (!e || typeof e !== 'object') return;
    const x = e as { Dimensions?: { Key?: unknown; Values?: unknown }; And?: unknown; Or?: unknown; Not?: unknown };
    if (x.Dimensions?.Key === 'LINKED_ACCOUNT' && Array.isArray(x.Dimensions.Values)) found.push(...x.Dimensions.Values.map(String));
    for (const list of [x.And, x.Or]) if (Array.isArray(list)) list.forEach(walk);
    walk(x.Not);
  };
  walk(body.Filter);
  return found.sort().join(',');
}

/** The most of these arrival times (ms) that fall within any one second, [t, t + 1000). */
export function mostWithinOneSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; j < sorted.length; j++) {
    while (sorted[j]! - sorted[i]! >= 1000) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

/** AWS common error codes for server faults. */
export function errorCodeForStatus(status: number): string {
  if (status === 503) return 'ServiceUnavailable';
  if (status >= 500) return 'InternalFailure';
  if (status === 429) return 'ThrottlingException';
  return 'ValidationException';
}

interface StoredRecord {
  accountId: string;
  day: number; // days since epoch
  month: number; // year * 12 + month0
  date: string;
  service: string;
  resourceId: string;
  region: string;
  recordType: RecordType;
  amount: Dec;
  amortized: Dec;
}

class CeError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}
const validation = (message: string) => new CeError(400, 'ValidationException', message);

function parseDay(s: unknown): number | undefined {
  if (typeof s !== 'string' || !DATE_RE.test(s)) return undefined;
  const ms = Date.parse(`${s}T00:00:00Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== s) return undefined;
  return ms / DAY_MS;
}
const fmtDay = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);
const monthOfDay = (day: number) => {
  const d = new Date(day * DAY_MS);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
};
const firstDayOfMonth = (month: number) => Date.UTC(Math.floor(month / 12), month % 12, 1) / DAY_MS;
const utcToday = () => new Date().toISOString().slice(0, 10);

/** Exact, never exponent notation, never "-0". */
function fmtAmount(d: Dec): string {
  return d.isZero() ? '0' : d.toFixed();
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function dimValue(r: StoredRecord, key: string): string {
  switch (key) {
    case 'LINKED_ACCOUNT': return r.accountId;
    case 'SERVICE': return r.service;
    case 'REGION': return r.region;
    case 'RESOURCE_ID': return r.resourceId;
    case 'RECORD_TYPE': return r.recordType;
    default: return '';
  }
}

type Pred = (r: StoredRecord) => boolean;

interface CompiledFilter {
  pred: Pred;
  /** Accounts the filter restricts to, if it does (drives the index). */
  accounts?: Set<string>;
}

function compileFilter(expr: unknown, op: string, depth = 0): CompiledFilter {
  if (depth > 10) throw validation('Filter expression is nested too deeply');
  if (!expr || typeof expr !== 'object' || Array.isArray(expr)) throw validation('Filter must be an Expression object');
  const e = expr as Record<string, unknown>;
  const present = ['And', 'Or', 'Not', 'Dimensions', 'Tags', 'CostCategories'].filter((k) => e[k] !== undefined);
  if (present.length !== 1) {
    throw validation('Expression must contain exactly one of And, Or, Not, Dimensions, Tags, CostCategories');
  }
  const kind = present[0];
  if (kind === 'And' || kind === 'Or') {
    const list = e[kind];
    // The service's own words (aws-samples/aws-cost-explorer-report#27); Steampipe's resource tables
    // send a lone expression bare for the same reason (aws_cost_by_resource_monthly.go).
    if (!Array.isArray(list) || list.length < 2) throw validation(`${kind} expression must have at least 2 operands`);
    const parts = list.map((x) => compileFilter(x, op, depth + 1));
    const preds = parts.map((p) => p.pred);
    if (kind === 'Or') return { pred: (r) => preds.some((p) => p(r)) };
    let accounts: Set<string> | undefined;
    for (const p of parts) {
      if (!p.accounts) continue;
      accounts = accounts ? new Set([...accounts].filter((a) => p.accounts!.has(a))) : p.accounts;
    }
    return { pred: (r) => preds.every((p) => p(r)), accounts };
  }
  if (kind === 'Not') {
    const inner = compileFilter(e.Not, op, depth + 1).pred;
    return { pred: (r) => !inner(r) };
  }
  if (kind !== 'Dimensions') throw validation(`${kind} filters are not supported by this fake`);
  const d = e.Dimensions as Record<string, unknown> | null;
  if (!d || typeof d !== 'object') throw validation('Dimensions must be an object');
  const key = d.Key;
  if (typeof key !== 'string') throw validation('Dimensions.Key is required');
  if (key === 'RESOURCE_ID' && op !== 'GetCostAndUsageWithResources') throw validation('Dimension RESOURCE_ID is not allowed.');
  if (!DIMENSIONS.has(key)) throw validation(`Dimension ${key} is not supported by this fake`);
  const values = d.Values;
  if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'string')) {
    throw validation(`Dimensions.Values for ${key} must be a non-empty list of strings`);
  }
  const mo = d.MatchOptions;
  if (mo !== undefined) {
    if (!Array.isArray(mo) || mo.some((m) => m !== 'EQUALS' && m !== 'CASE_SENSITIVE')) {
      throw validation('Only MatchOptions EQUALS and CASE_SENSITIVE are supported for Dimensions');
    }
  }
  const set = new Set(values as string[]);
  return {
    pred: (r) => set.has(dimValue(r, key)),
    accounts: key === 'LINKED_ACCOUNT' ? set : undefined,
  };
}

/** Whether an expression names `key` anywhere. */
function namesDimension(expr: unknown, key: string): boolean {
  if (!expr || typeof expr !== 'object') return false;
  const e = expr as { Dimensions?: { Key?: unknown }; And?: unknown; Or?: unknown; Not?: unknown };
  if (e.Dimensions?.Key === key) return true;
  return [e.And, e.Or].some((l) => Array.isArray(l) && l.some((x) => namesDimension(x, key))) || namesDimension(e.Not, key);
}

/** The SERVICE values a filter requires at its top level (itself, or an operand of its And). */
function topLevelServices(expr: unknown): unknown[] | undefined {
  const e = (expr ?? {}) as { Dimensions?: { Key?: unknown; Values?: unknown }; And?: unknown };
  const dims = [e.Dimensions, ...(Array.isArray(e.And) ? e.And.map((x) => (x as { Dimensions?: { Key?: unknown; Values?: unknown } })?.Dimensions) : [])];
  const service = dims.find((d) => d?.Key === 'SERVICE');
  return Array.isArray(service?.Values) ? service.Values : undefined;
}

interface ParsedQuery {
  op: CeOperation;
  startDay: number;
  endDay: number;
  granularity: 'DAILY' | 'MONTHLY';
  metrics: string[];
  groupBy: { Type: 'DIMENSION'; Key: string }[];
  filter?: CompiledFilter;
  hash: string;
}

interface Period { Start: string; End: string; startDay: number }
interface FlatItem { p: number; keys: string[]; amount: string; amortized: string }
interface Flat { periods: Period[]; items: FlatItem[]; grouped: boolean }

interface TokenBody { v: 1; o: number; p: number; h: string }

function encodeToken(t: TokenBody): string {
  return Buffer.from(JSON.stringify(t), 'utf8').toString('base64');
}
function decodeToken(s: string): TokenBody | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return undefined;
  try {
    const t = JSON.parse(Buffer.from(s, 'base64').toString('utf8')) as Partial<TokenBody>;
    if (t && t.v === 1 && Number.isInteger(t.o) && t.o! > 0 && Number.isInteger(t.p) && t.p! > 0 && typeof t.h === 'string') {
      return t as TokenBody;
    }
  } catch { /* fall through */ }
  return undefined;
}

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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startFakeCostExplorer(opts: FakeCostExplorerOptions = {}): Promise<FakeCostExplorer> {
  const byAccount = new Map<string, StoredRecord[]>();
  let recordCount = 0;
  const cache = new Map<string, Flat>();
  const calls: FakeCeCall[] = [];
  let seq = 0;

  let today = opts.today;
  let pageSize = opts.pageSize ?? 500;
  let resourceLevelEnabled = opts.resourceLevelEnabled ?? true;
  let monthlyResourcesAccepted = opts.monthlyResourcesAccepted ?? true;
  let oneServicePerResourceQuery = opts.oneServicePerResourceQuery ?? false;
  let delayMs = opts.delayMs ?? 0;
  let throttle: ThrottleConfig = opts.throttle ?? {};
  const throttleCounts = new Map<string, number>();
  const acceptedTimes: number[] = [];
  const random = opts.seed === undefined ? Math.random : mulberry32(opts.seed);
  let failNextQueue: { status: number; code: string }[] = [];
  let failAtRules: (Required<Pick<FailAtConfig, 'status' | 'times'>> & FailAtConfig)[] = [];
  let accessDenied: { principalArn: string } | undefined;
  let sessionTokenLifetime: number | undefined;
  const sessionTokenUses = new Map<string, number>();
  const expiredTokens = new Set<string>();

  if (today !== undefined && parseDay(today) === undefined) throw new Error(`invalid today: ${today}`);

  // Bulk loads repeat few dates: parse each once.
  const dayCache = new Map<string, { day: number; month: number }>();

  function addCost(item: FakeCostItem): void {
    let dm = dayCache.get(item.date);
    if (!dm) {
      const d = parseDay(item.date);
      if (d === undefined) throw new Error(`addCost: invalid date ${JSON.stringify(item.date)}`);
      dayCache.set(item.date, (dm = { day: d, month: monthOfDay(d) }));
    }
    if (typeof item.amount !== 'string' || !AMOUNT_RE.test(item.amount)) {
      throw new Error(`addCost: amount must be a plain decimal string, got ${JSON.stringify(item.amount)}`);
    }
    if (item.amortizedAmount !== undefined && (typeof item.amortizedAmount !== 'string' || !AMOUNT_RE.test(item.amortizedAmount))) {
      throw new Error(`addCost: amortizedAmount must be a plain decimal string, got ${JSON.stringify(item.amortizedAmount)}`);
    }
    const recordType = item.recordType ?? 'Usage';
    if (!RECORD_TYPES.has(recordType)) throw new Error(`addCost: invalid recordType ${recordType}`);
    const amount = new Dec(item.amount);
    const r: StoredRecord = {
      accountId: item.accountId, day: dm.day, month: dm.month, date: item.date,
      service: item.service, resourceId: item.resourceId, region: item.region,
      recordType, amount, amortized: item.amortizedAmount === undefined ? amount : new Dec(item.amortizedAmount),
    };
    let list = byAccount.get(r.accountId);
    if (!list) byAccount.set(r.accountId, (list = []));
    list.push(r);
    recordCount++;
    cache.clear();
  }

  function todayDay(): number {
    return parseDay(today ?? utcToday())!;
  }

  function parseQuery(op: CeOperation, body: Record<string, unknown>): ParsedQuery {
    const tp = body.TimePeriod as Record<string, unknown> | undefined;
    if (!tp || typeof tp !== 'object') throw validation('TimePeriod is required');
    const startDay = parseDay(tp.Start);
    const endDay = parseDay(tp.End);
    if (startDay === undefined || endDay === undefined) {
      throw validation(`TimePeriod Start and End must be dates in the form YYYY-MM-DD, got ${JSON.stringify(tp)}`);
    }
    if (startDay >= endDay) throw validation('Start date (and hour) should be before end date (and hour)');
    const tDay = todayDay();
    // Both operations; the service's words (aws/aws-sdk-js#2732).
    if (endDay > firstDayOfMonth(monthOfDay(tDay) + 1)) throw validation('end date past the beginning of next month');

    const g = body.Granularity;
    if (g === 'HOURLY') throw validation('Hourly granularity is not supported by this account (hourly data is not enabled)');
    if (g !== 'DAILY' && g !== 'MONTHLY') throw validation(`Granularity must be one of DAILY, MONTHLY, HOURLY, got ${JSON.stringify(g)}`);

    const metrics = body.Metrics;
    if (!Array.isArray(metrics) || metrics.length === 0) throw validation('Metrics is required and must not be empty');
    for (const m of metrics) {
      if (typeof m !== 'string' || (!COST_METRICS.has(m) && !USAGE_METRICS.has(m))) {
        throw validation(`Metric ${String(m)} is not a valid metric`);
      }
    }

    const gbRaw = body.GroupBy ?? [];
    if (!Array.isArray(gbRaw)) throw validation('GroupBy must be a list');
    if (gbRaw.length > 2) throw validation('GroupBy can have at most 2 group definitions');
    const groupBy: ParsedQuery['groupBy'] = [];
    for (const gd of gbRaw as Record<string, unknown>[]) {
      const type = gd?.Type;
      const key = gd?.Key;
      if (type !== 'DIMENSION') {
        if (type === 'TAG' || type === 'COST_CATEGORY') throw validation(`GroupBy type ${type} is not supported by this fake`);
        throw validation(`GroupBy Type must be one of DIMENSION, TAG, COST_CATEGORY, got ${JSON.stringify(type)}`);
      }
      if (typeof key !== 'string') throw validation('GroupBy Key is required');
      if (key === 'RESOURCE_ID' && op !== 'GetCostAndUsageWithResources') throw validation('Dimension RESOURCE_ID is not allowed.');
      if (!DIMENSIONS.has(key)) throw validation(`Group by dimension ${key} is not supported by this fake`);
      if (groupBy.some((x) => x.Key === key)) throw validation(`Duplicate group by dimension ${key}`);
      groupBy.push({ Type: 'DIMENSION', Key: key });
    }

    if (op === 'GetCostAndUsageWithResources') {
      // The API reference (GetCostAndUsageWithResourcesRequest in @aws-sdk/client-cost-explorer's
      // models): Filter is required, the operation "requires that you either group by or filter by
      // a ResourceId", and "the start date cannot be earlier than 14 days ago".
      if (body.Filter === undefined) throw validation('Filter is required for GetCostAndUsageWithResources');
      if (!groupBy.some((x) => x.Key === 'RESOURCE_ID') && !namesDimension(body.Filter, 'RESOURCE_ID')) {
        throw validation('GetCostAndUsageWithResources requires that you either group by or filter by a ResourceId');
      }
      if (oneServicePerResourceQuery && topLevelServices(body.Filter)?.length !== 1) {
        throw validation('GetCostAndUsageWithResources requires the Expression SERVICE = <one service> in the filter');
      }
      if (g === 'MONTHLY' && !monthlyResourcesAccepted) throw validation('Granularity MONTHLY is not supported for resource-level data; use DAILY or HOURLY');
      const earliest = tDay - 14;
      if (startDay < earliest) {
        // As Cost Explorer words it (boto/boto3#2369), granularity named though the date is the fault.
        throw validation('Start date is more than 14 days ago for hourly granularity. Please adjust start date as we support only 14 days of data at hourly granularity.');
      }
    }
    const filter = body.Filter === undefined ? undefined : compileFilter(body.Filter, op);

    const { NextPageToken: _t, ...rest } = body;
    const hash = createHash('sha256').update(op).update('\0').update(stableStringify(rest)).digest('hex').slice(0, 24);
    return { op, startDay, endDay, granularity: g, metrics: metrics as string[], groupBy, filter, hash };
  }

  function buildPeriods(q: ParsedQuery): Period[] {
    const out: Period[] = [];
    if (q.granularity === 'DAILY') {
      for (let d = q.startDay; d < q.endDay; d++) out.push({ Start: fmtDay(d), End: fmtDay(d + 1), startDay: d });
      return out;
    }
    let s = q.startDay;
    while (s < q.endDay) {
      const e = Math.min(firstDayOfMonth(monthOfDay(s) + 1), q.endDay);
      out.push({ Start: fmtDay(s), End: fmtDay(e), startDay: s });
      s = e;
    }
    return out;
  }

  function candidates(accounts: Set<string> | undefined): StoredRecord[][] {
    if (!accounts) return [...byAccount.values()];
    const out: StoredRecord[][] = [];
    for (const a of accounts) {
      const l = byAccount.get(a);
      if (l) out.push(l);
    }
    return out;
  }

  function flatten(q: ParsedQuery): Flat {
    const cacheKey = q.hash;
    const hit = cache.get(cacheKey);
    if (hit) return hit;
    const periods = buildPeriods(q);
    const startMonth = monthOfDay(q.startDay);
    const periodOf = q.granularity === 'DAILY'
      ? (r: StoredRecord) => r.day - q.startDay
      : (r: StoredRecord) => r.month - startMonth;
    const grouped = q.groupBy.length > 0;
    const sums: Map<string, { keys: string[]; sum: Dec; amortized: Dec }>[] = periods.map(() => new Map());
    const pred = q.filter?.pred;
    const keyDims = q.groupBy.map((g) => g.Key);
    const [k0 = '', k1 = ''] = keyDims;
    const keyOf = keyDims.length === 0 ? () => ''
      : keyDims.length === 1 ? (r: StoredRecord) => dimValue(r, k0)
        : (r: StoredRecord) => `${dimValue(r, k0)}\u0001${dimValue(r, k1)}`;
    for (const list of candidates(q.filter?.accounts)) {
      for (const r of list) {
        if (r.day < q.startDay || r.day >= q.endDay) continue;
        if (pred && !pred(r)) continue;
        const k = keyOf(r);
        const m = sums[periodOf(r)]!;
        const cur = m.get(k);
        if (cur) {
          cur.sum = cur.sum.plus(r.amount);
          cur.amortized = cur.amortized.plus(r.amortized);
        } else {
          m.set(k, { keys: keyDims.map((d) => dimValue(r, d)), sum: r.amount, amortized: r.amortized });
        }
      }
    }
    const items: FlatItem[] = [];
    sums.forEach((m, p) => {
      if (!grouped) {
        const all = m.get('');
        items.push({ p, keys: [], amount: fmtAmount(all?.sum ?? new Dec(0)), amortized: fmtAmount(all?.amortized ?? new Dec(0)) });
        return;
      }
      const ks = [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const k of ks) {
        const g = m.get(k)!;
        items.push({ p, keys: g.keys, amount: fmtAmount(g.sum), amortized: fmtAmount(g.amortized) });
      }
    });
    const flat: Flat = { periods, items, grouped };
    if (cache.size >= 64) cache.delete(cache.keys().next().value!);
    cache.set(cacheKey, flat);
    return flat;
  }

  function metricsFor(q: ParsedQuery, it: FlatItem): Record<string, { Amount: string; Unit: string }> {
    const out: Record<string, { Amount: string; Unit: string }> = {};
    for (const m of q.metrics) {
      out[m] = !COST_METRICS.has(m) ? { Amount: '0', Unit: 'N/A' } : { Amount: AMORTIZED_METRICS.has(m) ? it.amortized : it.amount, Unit: 'USD' };
    }
    return out;
  }

  function buildPage(q: ParsedQuery, flat: Flat, offset: number, pageIndex: number) {
    const { periods, items, grouped } = flat;
    const end = Math.min(items.length, offset + pageSize);
    const last = end >= items.length;
    let startP = 0;
    if (offset > 0) {
      const prev = items[offset - 1]!.p;
      const cur = items[offset]!.p;
      startP = prev === cur ? cur : prev + 1;
    }
    const endP = last ? periods.length - 1 : items[end - 1]!.p;
    const results: unknown[] = [];
    let i = offset;
    const accounts = new Set<string>();
    const acctIdx = q.groupBy.findIndex((g) => g.Key === 'LINKED_ACCOUNT');
    for (let p = startP; p <= endP; p++) {
      const per = periods[p]!;
      const groups: unknown[] = [];
      let total: Record<string, unknown> = {};
      while (i < end && items[i]!.p === p) {
        const it = items[i]!;
        if (grouped) {
          groups.push({ Keys: it.keys, Metrics: metricsFor(q, it) });
          if (acctIdx >= 0) accounts.add(it.keys[acctIdx]!);
        } else {
          total = metricsFor(q, it);
        }
        i++;
      }
      results.push({ TimePeriod: { Start: per.Start, End: per.End }, Total: total, Groups: groups, Estimated: false });
    }
    const body: Record<string, unknown> = {
      ResultsByTime: results,
      DimensionValueAttributes: [...accounts].map((a) => ({ Value: a, Attributes: { description: `Sandbox account ${a}` } })),
    };
    if (grouped) body.GroupDefinitions = q.groupBy;
    if (!last) body.NextPageToken = encodeToken({ v: 1, o: end, p: pageIndex + 1, h: q.hash });
    return { body, groupsReturned: grouped ? end - offset : 0 };
  }

  function throttled(now: number, account: string): boolean {
    const count = (throttleCounts.get(account) ?? 0) + 1;
    throttleCounts.set(account, count);
    if (throttle.everyNth && throttle.everyNth > 0 && count % throttle.everyNth === 0) return true;
    if (throttle.probability && random() < throttle.probability) return true;
    if (throttle.maxRps !== undefined) {
      // Stamped arrivals may be handled slightly out of order: count the window, don't assume it.
      while (acceptedTimes.length && acceptedTimes[0]! <= now - 2000) acceptedTimes.shift();
      if (acceptedTimes.filter((t) => t > now - 1000 && t <= now).length >= throttle.maxRps) return true;
      acceptedTimes.push(now);
    }
    return false;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A stamping proxy in front (test/helpers/arrival-stamp-proxy.ts) says when the request arrived.
    const at = Number(req.headers['x-fake-arrived-at']) || Date.now();
    const call: FakeCeCall = {
      seq: ++seq, at, operation: '', accessKeyId: accessKeyFrom(req.headers.authorization),
      hasSessionToken: typeof req.headers['x-amz-security-token'] === 'string',
      sessionToken: typeof req.headers['x-amz-security-token'] === 'string' ? req.headers['x-amz-security-token'] : undefined,
      request: undefined, pageIndex: 0, status: 0, groupsReturned: 0, durationMs: 0,
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
        throw new CeError(400, 'UnknownOperationException', `Operation ${target || '(none)'} is not supported by this fake`);
      }
      const op = call.operation as CeOperation;
      let body: Record<string, unknown>;
      try {
        body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
      } catch {
        throw new CeError(400, 'SerializationException', 'Request body is not valid JSON');
      }
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new CeError(400, 'SerializationException', 'Request body must be a JSON object');
      call.request = body;
      const token = body.NextPageToken;
      let decoded: TokenBody | undefined;
      if (token !== undefined && token !== null) {
        call.pageToken = String(token);
        decoded = typeof token === 'string' ? decodeToken(token) : undefined;
        call.pageIndex = decoded ? decoded.p : -1;
      }
      if (!call.accessKeyId) throw new CeError(400, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
      if (call.sessionToken !== undefined) {
        const token = call.sessionToken;
        const used = sessionTokenUses.get(token) ?? 0;
        if (!expiredTokens.has(token) && sessionTokenLifetime !== undefined && used >= sessionTokenLifetime) expiredTokens.add(token);
        // Once expired, a token stays expired (even after the switch is turned off).
        if (expiredTokens.has(token)) throw new CeError(400, 'ExpiredTokenException', MSG.expiredToken);
        sessionTokenUses.set(token, used + 1);
      }

      if (throttled(at, linkedAccountsOf(body))) throw new CeError(400, 'LimitExceededException', MSG.limit);
      const fail = failNextQueue.shift();
      if (fail) throw new CeError(fail.status, fail.code, `Injected failure (${fail.status})`);
      if (accessDenied) {
        const acct = /arn:aws:[a-z]+::(\d{12}):/.exec(accessDenied.principalArn)?.[1] ?? '000000000000';
        throw new CeError(400, 'AccessDeniedException',
          `User: ${accessDenied.principalArn} is not authorized to perform: ce:${op} on resource: arn:aws:ce:us-east-1:${acct}:/${op} because no identity-based policy allows the ce:${op} action`);
      }
      if (op === 'GetCostAndUsageWithResources' && !resourceLevelEnabled) {
        throw new CeError(400, 'DataUnavailableException', MSG.resourceDisabled);
      }
      const q = parseQuery(op, body);
      let offset = 0;
      if (call.pageToken !== undefined) {
        if (!decoded) throw new CeError(400, 'InvalidNextTokenException', MSG.invalidToken);
        if (decoded.h !== q.hash) throw new CeError(400, 'RequestChangedException', MSG.requestChanged);
        offset = decoded.o;
      }
      const ruleIdx = failAtRules.findIndex((r) =>
        (r.pageIndex === undefined || r.pageIndex === call.pageIndex) && (r.operation === undefined || r.operation === op));
      if (ruleIdx >= 0) {
        const rule = failAtRules[ruleIdx]!;
        if (--rule.times <= 0) failAtRules.splice(ruleIdx, 1);
        throw new CeError(rule.status, rule.code ?? errorCodeForStatus(rule.status), `Injected failure at page ${call.pageIndex} (${rule.status})`);
      }
      const flat = flatten(q);
      if (offset > 0 && offset >= flat.items.length) throw new CeError(400, 'InvalidNextTokenException', MSG.invalidToken);
      const page = buildPage(q, flat, offset, call.pageIndex);
      payload = page.body;
      call.groupsReturned = page.groupsReturned;
    } catch (err) {
      const e = err instanceof CeError ? err : new CeError(500, 'InternalFailure', String((err as Error)?.message ?? err));
      status = e.status;
      call.errorCode = e.code;
      payload = MODELLED_ERRORS.has(e.code) ? { __type: e.code, Message: e.message } : { __type: e.code, message: e.message };
    }
    if (delayMs > 0) await sleep(delayMs);
    call.status = status;
    call.durationMs = Date.now() - at;
    calls.push(call);
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
    calls,
    addCost,
    addCosts(items) {
      for (const it of items) addCost(it);
    },
    clear() {
      byAccount.clear();
      recordCount = 0;
      cache.clear();
    },
    size: () => recordCount,
    expectedTotal(f) {
      const s = parseDay(f.start);
      const e = parseDay(f.end);
      if (s === undefined || e === undefined) throw new Error('expectedTotal: start/end must be YYYY-MM-DD');
      let sum = new Dec(0);
      for (const list of candidates(f.accountId === undefined ? undefined : new Set([f.accountId]))) {
        for (const r of list) {
          if (r.day < s || r.day >= e) continue;
          if (f.recordType && r.recordType !== f.recordType) continue;
          if (f.service !== undefined && r.service !== f.service) continue;
          if (f.region !== undefined && r.region !== f.region) continue;
          sum = sum.plus(f.metric === 'AmortizedCost' ? r.amortized : r.amount);
        }
      }
      return fmtAmount(sum);
    },
    setThrottle(config) {
      throttle = config ?? {};
      throttleCounts.clear();
      acceptedTimes.length = 0;
    },
    failNext(n, status = 500, code) {
      for (let i = 0; i < n; i++) failNextQueue.push({ status, code: code ?? errorCodeForStatus(status) });
    },
    failAt(config) {
      failAtRules.push({ ...config, status: config.status ?? 500, times: config.times ?? 1 });
    },
    setDelayMs(ms) {
      delayMs = ms;
    },
    setAccessDenied(denied, config) {
      accessDenied = denied
        ? { principalArn: config?.principalArn ?? 'arn:aws:sts::111122223333:assumed-role/lease-costs-cost-explorer-reader/lease-costs' }
        : undefined;
    },
    setResourceLevelEnabled(enabled) {
      resourceLevelEnabled = enabled;
    },
    setMonthlyResourcesAccepted(accepted) {
      monthlyResourcesAccepted = accepted;
    },
    setOneServicePerResourceQuery(required) {
      oneServicePerResourceQuery = required;
    },
    setPageSize(n) {
      if (!Number.isInteger(n) || n < 1) throw new Error('pageSize must be a positive integer');
      pageSize = n;
    },
    setToday(date) {
      if (date !== undefined && parseDay(date) === undefined) throw new Error(`invalid today: ${date}`);
      today = date;
    },
    setSessionTokenLifetime(n) {
      if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new Error('session token lifetime must be a non-negative integer');
      sessionTokenLifetime = n;
      sessionTokenUses.clear();
    },
    expiredSessionTokens: () => [...expiredTokens],
    stats() {
      const st: FakeCeStats = { total: calls.length, ok: 0, throttled: 0, failed: 0, byOperation: {} };
      for (const c of calls) {
        if (c.status === 200) st.ok++;
        else if (c.errorCode === 'LimitExceededException') st.throttled++;
        else st.failed++;
        st.byOperation[c.operation] = (st.byOperation[c.operation] ?? 0) + 1;
      }
      return st;
    },
    resetCalls() {
      calls.length = 0;
    },
    resetFaults() {
      throttle = {};
      throttleCounts.clear();
      acceptedTimes.length = 0;
      failNextQueue = [];
      failAtRules = [];
      delayMs = 0;
      accessDenied = undefined;
      resourceLevelEnabled = true;
      monthlyResourcesAccepted = true;
      oneServicePerResourceQuery = false;
      sessionTokenLifetime = undefined;
      sessionTokenUses.clear();
      expiredTokens.clear();
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

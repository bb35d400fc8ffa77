// Request parsing: the validation rules Cost Explorer applies to a query, and its filter compiled
// to a predicate over cost records.
import { createHash } from 'node:crypto';
import { firstDayOfMonth, monthOfDay, parseDay, utcToday } from './days';
import { CeError, validation } from './errors';

export type CeOperation = 'GetCostAndUsage' | 'GetCostAndUsageWithResources';
export const OPERATIONS: readonly string[] = ['GetCostAndUsage', 'GetCostAndUsageWithResources'];
export const COST_METRICS = new Set([
  'AmortizedCost',
  'BlendedCost',
  'NetAmortizedCost',
  'NetUnblendedCost',
  'UnblendedCost',
]);
const USAGE_METRICS = new Set(['NormalizedUsageAmount', 'UsageQuantity']);
const DIMENSIONS = new Set<string>(['LINKED_ACCOUNT', 'SERVICE', 'REGION', 'RESOURCE_ID', 'RECORD_TYPE']);
const RESOURCE_DISABLED =
  'Resource-level data is not enabled for this account. Enable hourly and resource-level data in the Cost Management preferences of the management account.';

/** What filters and groupings read from a cost record. */
export interface CostDimensions {
  accountId: string;
  service: string;
  region: string;
  resourceId: string;
  recordType: string;
}

export function dimValue(r: CostDimensions, key: string): string {
  switch (key) {
    case 'LINKED_ACCOUNT':
      return r.accountId;
    case 'SERVICE':
      return r.service;
    case 'REGION':
      return r.region;
    case 'RESOURCE_ID':
      return r.resourceId;
    case 'RECORD_TYPE':
      return r.recordType;
    default:
      return '';
  }
}

type Pred = (r: CostDimensions) => boolean;

export interface CompiledFilter {
  pred: Pred;
  /** Accounts the filter restricts to, if it does (drives the index). */
  accounts?: Set<string>;
}

export interface ParsedQuery {
  op: CeOperation;
  startDay: number;
  endDay: number;
  granularity: 'DAILY' | 'MONTHLY';
  metrics: string[];
  groupBy: { Type: 'DIMENSION'; Key: string }[];
  filter?: CompiledFilter;
  /** Identifies the request without its page token: a token is valid only for the same request. */
  hash: string;
}

/** The LINKED_ACCOUNT values a request's filter names, as one key ('' when it names none). */
export function linkedAccountsOf(body: Record<string, unknown>): string {
  const found: string[] = [];
  const walk = (e: unknown): void => {
    if (!e || typeof e !== 'object') return;
    const x = e as { Dimensions?: { Key?: unknown; Values?: unknown }; And?: unknown; Or?: unknown; Not?: unknown };
    if (x.Dimensions?.Key === 'LINKED_ACCOUNT' && Array.isArray(x.Dimensions.Values))
      found.push(...x.Dimensions.Values.map(String));
    for (const list of [x.And, x.Or]) if (Array.isArray(list)) list.forEach(walk);
    walk(x.Not);
  };
  walk(body.Filter);
  return found.sort().join(',');
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
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
  if (key === 'RESOURCE_ID' && op !== 'GetCostAndUsageWithResources')
    throw validation('Dimension RESOURCE_ID is not allowed.');
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
  return (
    [e.And, e.Or].some((l) => Array.isArray(l) && l.some((x) => namesDimension(x, key))) || namesDimension(e.Not, key)
  );
}

/** The SERVICE values a filter requires at its top level (itself, or an operand of its And). */
function topLevelServices(expr: unknown): unknown[] | undefined {
  const e = (expr ?? {}) as { Dimensions?: { Key?: unknown; Values?: unknown }; And?: unknown };
  const dims = [
    e.Dimensions,
    ...(Array.isArray(e.And)
      ? e.And.map((x) => (x as { Dimensions?: { Key?: unknown; Values?: unknown } })?.Dimensions)
      : []),
  ];
  const service = dims.find((d) => d?.Key === 'SERVICE');
  return Array.isArray(service?.Values) ? service.Values : undefined;
}

export interface QueryRulesOptions {
  today?: string;
  resourceLevelEnabled?: boolean;
  monthlyResourcesAccepted?: boolean;
  oneServicePerResourceQuery?: boolean;
}

/** The account's settings and the date that decide which queries the service accepts. */
export class QueryRules {
  today: string | undefined;
  resourceLevelEnabled: boolean;
  monthlyResourcesAccepted: boolean;
  oneServicePerResourceQuery: boolean;

  constructor(opts: QueryRulesOptions) {
    this.resourceLevelEnabled = opts.resourceLevelEnabled ?? true;
    this.monthlyResourcesAccepted = opts.monthlyResourcesAccepted ?? true;
    this.oneServicePerResourceQuery = opts.oneServicePerResourceQuery ?? false;
    this.setToday(opts.today);
  }

  setToday(date: string | undefined): void {
    if (date !== undefined && parseDay(date) === undefined) throw new Error(`invalid today: ${date}`);
    this.today = date;
  }

  /** Resource-level data on, and both strictness switches at the defaults; `today` stays. */
  reset(): void {
    this.resourceLevelEnabled = true;
    this.monthlyResourcesAccepted = true;
    this.oneServicePerResourceQuery = false;
  }

  checkResourceLevel(op: CeOperation): void {
    if (op === 'GetCostAndUsageWithResources' && !this.resourceLevelEnabled) {
      throw new CeError(400, 'DataUnavailableException', RESOURCE_DISABLED);
    }
  }

  private todayDay(): number {
    return parseDay(this.today ?? utcToday())!;
  }

  parse(op: CeOperation, body: Record<string, unknown>): ParsedQuery {
    const tp = body.TimePeriod as Record<string, unknown> | undefined;
    if (!tp || typeof tp !== 'object') throw validation('TimePeriod is required');
    const startDay = parseDay(tp.Start);
    const endDay = parseDay(tp.End);
    if (startDay === undefined || endDay === undefined) {
      throw validation(`TimePeriod Start and End must be dates in the form YYYY-MM-DD, got ${JSON.stringify(tp)}`);
    }
    if (startDay >= endDay) throw validation('Start date (and hour) should be before end date (and hour)');
    const tDay = this.todayDay();
    // Both operations; the service's words (aws/aws-sdk-js#2732).
    if (endDay > firstDayOfMonth(monthOfDay(tDay) + 1)) throw validation('end date past the beginning of next month');

    const g = body.Granularity;
    if (g === 'HOURLY')
      throw validation('Hourly granularity is not supported by this account (hourly data is not enabled)');
    if (g !== 'DAILY' && g !== 'MONTHLY')
      throw validation(`Granularity must be one of DAILY, MONTHLY, HOURLY, got ${JSON.stringify(g)}`);

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
        if (type === 'TAG' || type === 'COST_CATEGORY')
          throw validation(`GroupBy type ${type} is not supported by this fake`);
        throw validation(`GroupBy Type must be one of DIMENSION, TAG, COST_CATEGORY, got ${JSON.stringify(type)}`);
      }
      if (typeof key !== 'string') throw validation('GroupBy Key is required');
      if (key === 'RESOURCE_ID' && op !== 'GetCostAndUsageWithResources')
        throw validation('Dimension RESOURCE_ID is not allowed.');
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
      if (this.oneServicePerResourceQuery && topLevelServices(body.Filter)?.length !== 1) {
        throw validation('GetCostAndUsageWithResources requires the Expression SERVICE = <one service> in the filter');
      }
      if (g === 'MONTHLY' && !this.monthlyResourcesAccepted)
        throw validation('Granularity MONTHLY is not supported for resource-level data; use DAILY or HOURLY');
      const earliest = tDay - 14;
      if (startDay < earliest) {
        // As Cost Explorer words it (boto/boto3#2369), granularity named though the date is the fault.
        throw validation(
          'Start date is more than 14 days ago for hourly granularity. Please adjust start date as we support only 14 days of data at hourly granularity.',
        );
      }
    }
    const filter = body.Filter === undefined ? undefined : compileFilter(body.Filter, op);

    const { NextPageToken: _t, ...rest } = body;
    const hash = createHash('sha256').update(op).update('\0').update(stableStringify(rest)).digest('hex').slice(0, 24);
    return { op, startDay, endDay, granularity: g, metrics: metrics as string[], groupBy, filter, hash };
  }
}

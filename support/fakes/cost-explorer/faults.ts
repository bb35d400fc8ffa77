// Faults the fake can be told to show: throttling, injected failures, a delay, access denial and
// expiring session tokens; and the arrival stamps that throttling is counted by.
import type { IncomingHttpHeaders } from 'node:http';
import { CeError } from './errors';
import type { CeOperation } from './query';

const LIMIT_EXCEEDED = 'You made too many calls in a short period of time. Try again later.';
const EXPIRED_TOKEN = 'The security token included in the request is expired';

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

/** When the request arrived, ms since epoch. */
export function arrivedAt(headers: IncomingHttpHeaders): number {
  // A stamping proxy in front (test/helpers/arrival-stamp-proxy.ts) says when the request arrived.
  return Number(headers['x-fake-arrived-at']) || Date.now();
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type FailAtRule = Required<Pick<FailAtConfig, 'status' | 'times'>> & FailAtConfig;

export interface FaultOptions {
  delayMs?: number;
  throttle?: ThrottleConfig;
  seed?: number;
}

export class Faults {
  delayMs: number;
  private throttle: ThrottleConfig;
  private readonly throttleCounts = new Map<string, number>();
  private readonly acceptedTimes: number[] = [];
  private readonly random: () => number;
  private failNextQueue: { status: number; code: string }[] = [];
  private failAtRules: FailAtRule[] = [];
  private accessDenied: { principalArn: string } | undefined;
  private sessionTokenLifetime: number | undefined;
  private readonly sessionTokenUses = new Map<string, number>();
  private readonly expiredTokens = new Set<string>();

  constructor(opts: FaultOptions) {
    this.delayMs = opts.delayMs ?? 0;
    this.throttle = opts.throttle ?? {};
    this.random = opts.seed === undefined ? Math.random : mulberry32(opts.seed);
  }

  /** Counts a call signed with `token` against the token's lifetime; refuses an expired one. */
  checkSessionToken(token: string | undefined): void {
    if (token === undefined) return;
    const used = this.sessionTokenUses.get(token) ?? 0;
    if (!this.expiredTokens.has(token) && this.sessionTokenLifetime !== undefined && used >= this.sessionTokenLifetime)
      this.expiredTokens.add(token);
    // Once expired, a token stays expired (even after the switch is turned off).
    if (this.expiredTokens.has(token)) throw new CeError(400, 'ExpiredTokenException', EXPIRED_TOKEN);
    this.sessionTokenUses.set(token, used + 1);
  }

  /** Refuses the call if throttling says so; `account` is the request's LINKED_ACCOUNT key. */
  checkThrottle(now: number, account: string): void {
    if (this.throttled(now, account)) throw new CeError(400, 'LimitExceededException', LIMIT_EXCEEDED);
  }

  private throttled(now: number, account: string): boolean {
    const { throttle, throttleCounts, acceptedTimes } = this;
    const count = (throttleCounts.get(account) ?? 0) + 1;
    throttleCounts.set(account, count);
    if (throttle.everyNth && throttle.everyNth > 0 && count % throttle.everyNth === 0) return true;
    if (throttle.probability && this.random() < throttle.probability) return true;
    if (throttle.maxRps !== undefined) {
      // Stamped arrivals may be handled slightly out of order: count the window, don't assume it.
      while (acceptedTimes.length && acceptedTimes[0]! <= now - 2000) acceptedTimes.shift();
      if (acceptedTimes.filter((t) => t > now - 1000 && t <= now).length >= throttle.maxRps) return true;
      acceptedTimes.push(now);
    }
    return false;
  }

  checkFailNext(): void {
    const fail = this.failNextQueue.shift();
    if (fail) throw new CeError(fail.status, fail.code, `Injected failure (${fail.status})`);
  }

  checkAccessDenied(op: CeOperation): void {
    const denied = this.accessDenied;
    if (!denied) return;
    const acct = /arn:aws:[a-z]+::(\d{12}):/.exec(denied.principalArn)?.[1] ?? '000000000000';
    throw new CeError(
      400,
      'AccessDeniedException',
      `User: ${denied.principalArn} is not authorized to perform: ce:${op} on resource: arn:aws:ce:us-east-1:${acct}:/${op} because no identity-based policy allows the ce:${op} action`,
    );
  }

  checkFailAt(pageIndex: number, op: CeOperation): void {
    const ruleIdx = this.failAtRules.findIndex(
      (r) =>
        (r.pageIndex === undefined || r.pageIndex === pageIndex) && (r.operation === undefined || r.operation === op),
    );
    if (ruleIdx < 0) return;
    const rule = this.failAtRules[ruleIdx]!;
    if (--rule.times <= 0) this.failAtRules.splice(ruleIdx, 1);
    throw new CeError(
      rule.status,
      rule.code ?? errorCodeForStatus(rule.status),
      `Injected failure at page ${pageIndex} (${rule.status})`,
    );
  }

  async delay(): Promise<void> {
    if (this.delayMs > 0) await sleep(this.delayMs);
  }

  setThrottle(config: ThrottleConfig | null | undefined): void {
    this.throttle = config ?? {};
    this.throttleCounts.clear();
    this.acceptedTimes.length = 0;
  }

  failNext(n: number, status = 500, code?: string): void {
    for (let i = 0; i < n; i++) this.failNextQueue.push({ status, code: code ?? errorCodeForStatus(status) });
  }

  failAt(config: FailAtConfig): void {
    this.failAtRules.push({ ...config, status: config.status ?? 500, times: config.times ?? 1 });
  }

  setAccessDenied(denied: boolean, config?: AccessDeniedConfig): void {
    this.accessDenied = denied
      ? {
          principalArn:
            config?.principalArn ??
            'arn:aws:sts::111122223333:assumed-role/lease-costs-cost-explorer-reader/lease-costs',
        }
      : undefined;
  }

  setSessionTokenLifetime(n: number | undefined): void {
    if (n !== undefined && (!Number.isInteger(n) || n < 0))
      throw new Error('session token lifetime must be a non-negative integer');
    this.sessionTokenLifetime = n;
    this.sessionTokenUses.clear();
  }

  expiredSessionTokens(): string[] {
    return [...this.expiredTokens];
  }

  /** Every fault off; expired tokens forgotten. */
  reset(): void {
    this.setThrottle({});
    this.failNextQueue = [];
    this.failAtRules = [];
    this.delayMs = 0;
    this.accessDenied = undefined;
    this.sessionTokenLifetime = undefined;
    this.sessionTokenUses.clear();
    this.expiredTokens.clear();
  }
}

// Pages: a page token names the offset, the page number and the request it belongs to; a page
// holds at most `pageSize` groups, cut from one flattened answer.
import { CeError } from './errors';
import type { ParsedQuery } from './query';
import { metricsFor, type Flat } from './store';

const INVALID_TOKEN = 'The pagination token is invalid. Try again without a pagination token.';
const REQUEST_CHANGED =
  'Your request parameters changed between pages. Try again with the old parameters or without a pagination token.';

interface TokenBody {
  v: 1;
  o: number;
  p: number;
  h: string;
}

function encodeToken(t: TokenBody): string {
  return Buffer.from(JSON.stringify(t), 'utf8').toString('base64');
}
function decodeToken(s: string): TokenBody | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return undefined;
  try {
    const t = JSON.parse(Buffer.from(s, 'base64').toString('utf8')) as Partial<TokenBody>;
    if (
      t &&
      t.v === 1 &&
      Number.isInteger(t.o) &&
      t.o! > 0 &&
      Number.isInteger(t.p) &&
      t.p! > 0 &&
      typeof t.h === 'string'
    ) {
      return t as TokenBody;
    }
  } catch {
    /* fall through */
  }
  return undefined;
}

/** The page a request asks for, read from its NextPageToken. */
export interface PageRequest {
  /** The token as sent, if any. */
  token?: string;
  decoded?: TokenBody;
  /** 0 without a token, the token's page otherwise, -1 for an undecodable token. */
  index: number;
}

export function readPageToken(body: Record<string, unknown>): PageRequest {
  const token = body.NextPageToken;
  if (token === undefined || token === null) return { index: 0 };
  const decoded = typeof token === 'string' ? decodeToken(token) : undefined;
  return { token: String(token), decoded, index: decoded ? decoded.p : -1 };
}

/** Where the requested page starts; refuses a token that is not this request's. */
export function pageOffset(page: PageRequest, q: ParsedQuery): number {
  if (page.token === undefined) return 0;
  if (!page.decoded) throw new CeError(400, 'InvalidNextTokenException', INVALID_TOKEN);
  if (page.decoded.h !== q.hash) throw new CeError(400, 'RequestChangedException', REQUEST_CHANGED);
  return page.decoded.o;
}

export class Pager {
  pageSize: number;

  constructor(pageSize = 500) {
    this.pageSize = pageSize;
  }

  setPageSize(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new Error('pageSize must be a positive integer');
    this.pageSize = n;
  }

  buildPage(q: ParsedQuery, flat: Flat, offset: number, pageIndex: number) {
    const { periods, items, grouped } = flat;
    if (offset > 0 && offset >= items.length) throw new CeError(400, 'InvalidNextTokenException', INVALID_TOKEN);
    const end = Math.min(items.length, offset + this.pageSize);
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
      DimensionValueAttributes: [...accounts].map((a) => ({
        Value: a,
        Attributes: { description: `Sandbox account ${a}` },
      })),
    };
    if (grouped) body.GroupDefinitions = q.groupBy;
    if (!last) body.NextPageToken = encodeToken({ v: 1, o: end, p: pageIndex + 1, h: q.hash });
    return { body, groupsReturned: grouped ? end - offset : 0 };
  }
}

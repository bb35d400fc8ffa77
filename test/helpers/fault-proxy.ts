// A tiny reverse proxy in front of moto, for fault injection. Point one service's endpoint
// (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_EVENTBRIDGE, …) at it: requests pass through untouched
// (the Host header too, so signatures stay valid) unless a rule matches, in which case the proxy
// delays them, holds them until released, or answers an error itself in the request's protocol:
// an S3 XML error document (503 SlowDown by default), a JSON error with `__type` for AWS JSON 1.1,
// an `<ErrorResponse>` for AWS Query (STS).
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a rule's predicate sees. Path-style S3: `/<bucket>/<key>`. */
export interface ProxiedRequest {
  seq: number;
  /** Arrival, ms since epoch. */
  at: number;
  method: string;
  /** Decoded path, without the query string. */
  path: string;
  query: URLSearchParams;
  bucket?: string;
  key?: string;
  /** The `X-Amz-Target` of an AWS JSON 1.1 request, e.g. `AWSEvents.PutEvents`. */
  target?: string;
  /** An AWS Query request (STS, say): a form-encoded POST, whose action is in the body. */
  awsQuery: boolean;
}

export type ProxyOutcome =
  /** Passed to moto; `status` is moto's answer. */
  | 'forwarded'
  /** Answered by the proxy with an injected error. */
  | 'injected'
  /** The client went away before an answer (e.g. its process was killed while the request was held). */
  | 'aborted'
  /** moto could not be reached (answered 502). */
  | 'upstream-error';

export interface ProxyLogEntry extends ProxiedRequest {
  outcome: ProxyOutcome;
  status?: number;
  /** Time spent delayed or held by a rule. */
  heldMs: number;
}

export interface FaultRule {
  /** Which requests the rule applies to; all of them when omitted. */
  match?: (r: ProxiedRequest) => boolean;
  /** Answer this status with an S3 error document instead of forwarding. */
  status?: number;
  /** S3 error code of that document; default `SlowDown` for 503, `InternalError` otherwise. */
  code?: string;
  /** With `status`, answer this JSON body instead of an error (an AWS JSON 1.1 result, say). */
  json?: unknown;
  /** Wait this long before acting (forwarding or answering). */
  delayMs?: number;
  /** Keep matching requests waiting until `release()` (or `clearRules()`/`close()`). */
  hold?: boolean;
  /** Forward matching requests, but keep moto's answers from the client until `release()`. */
  holdResponse?: boolean;
  /** The rule retires after matching this many requests. */
  times?: number;
  /** The rule retires this many ms after it is added (an outage of that length). */
  forMs?: number;
}

export interface RuleHandle {
  /** Requests the rule has matched so far. */
  readonly matched: ProxiedRequest[];
  /** Resolves once the rule has matched `count` requests in total. */
  waitForMatches(count: number, timeoutMs?: number): Promise<ProxiedRequest[]>;
  /** Retires the rule and lets every request it holds go on to moto. */
  release(): void;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: use as the endpoint of the service under test. */
  readonly endpoint: string;
  readonly log: ProxyLogEntry[];
  addRule(rule: FaultRule): RuleHandle;
  /** Retires every rule and releases held requests. */
  clearRules(): void;
  close(): Promise<void>;
}

interface ActiveRule {
  rule: FaultRule;
  until?: number;
  remaining?: number;
  retired: boolean;
  matched: ProxiedRequest[];
  released: Promise<void>;
  release: () => void;
  waiters: { count: number; resolve: () => void }[];
}

const S3_ERROR_MESSAGES: Record<string, string> = {
  SlowDown: 'Please reduce your request rate.',
  InternalError: 'We encountered an internal error. Please try again.',
  ServiceUnavailable: 'Service is unable to handle request.',
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
// Hop-by-hop headers and Expect (we already answered 100-continue to the client) stay with us.
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

function describeRequest(seq: number, req: IncomingMessage): ProxiedRequest {
  const url = new URL(req.url ?? '/', 'http://proxy.invalid');
  const path = decodeURIComponent(url.pathname);
  const [, bucket, ...rest] = path.split('/');
  return {
    seq,
    at: Date.now(),
    method: req.method ?? 'GET',
    path,
    query: url.searchParams,
    bucket: bucket || undefined,
    key: rest.length ? rest.join('/') : undefined,
    target: typeof req.headers['x-amz-target'] === 'string' ? req.headers['x-amz-target'] : undefined,
    awsQuery: String(req.headers['content-type']).includes('x-www-form-urlencoded'),
  };
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const rules: ActiveRule[] = [];
  const log: ProxyLogEntry[] = [];
  let seq = 0;

  const retire = (r: ActiveRule) => {
    r.retired = true;
    r.release();
    const i = rules.indexOf(r);
    if (i >= 0) rules.splice(i, 1);
  };

  function take(info: ProxiedRequest): ActiveRule | undefined {
    for (const r of [...rules]) {
      if (r.retired) continue;
      if (r.until !== undefined && info.at >= r.until) {
        retire(r);
        continue;
      }
      if (r.rule.match && !r.rule.match(info)) continue;
      r.matched.push(info);
      for (const w of r.waiters.filter((x) => r.matched.length >= x.count)) w.resolve();
      r.waiters = r.waiters.filter((x) => r.matched.length < x.count);
      if (r.remaining !== undefined && --r.remaining <= 0) {
        // Retired for later requests, but this one still gets the rule's treatment.
        r.retired = true;
        rules.splice(rules.indexOf(r), 1);
      }
      return r;
    }
    return undefined;
  }

  function answer(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    code: string,
    result?: unknown,
  ): Promise<void> {
    return new Promise((resolve) => {
      const send = () => {
        if (res.destroyed) return resolve();
        const requestId = randomBytes(8).toString('hex').toUpperCase();
        if (result !== undefined || String(req.headers['content-type']).includes('amz-json')) {
          const json = JSON.stringify(result ?? { __type: code, message: 'Injected fault.' });
          res.writeHead(status, {
            'content-type': 'application/x-amz-json-1.1',
            'content-length': Buffer.byteLength(json),
            'x-amzn-requestid': requestId,
          });
          return res.end(json, () => resolve());
        }
        if (String(req.headers['content-type']).includes('x-www-form-urlencoded')) {
          const xml =
            `<ErrorResponse><Error><Type>Receiver</Type><Code>${code}</Code><Message>Injected fault.</Message></Error>` +
            `<RequestId>${requestId}</RequestId></ErrorResponse>`;
          res.writeHead(status, {
            'content-type': 'text/xml',
            'content-length': Buffer.byteLength(xml),
            'x-amzn-requestid': requestId,
          });
          return res.end(xml, () => resolve());
        }
        const body =
          req.method === 'HEAD'
            ? ''
            : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
              `<Message>${S3_ERROR_MESSAGES[code] ?? 'Injected fault.'}</Message><RequestId>${requestId}</RequestId>` +
              `<HostId>${randomBytes(24).toString('base64')}</HostId></Error>`;
        res.writeHead(status, {
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(body),
          'x-amz-request-id': requestId,
          ...(status === 503 ? { 'retry-after': '1' } : {}),
        });
        res.end(body, () => resolve());
      };
      // Read the whole body first, so the client is not cut off mid-upload.
      if (req.readableEnded) return send();
      req.once('end', send);
      req.once('error', () => resolve());
      req.resume();
    });
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    entry: ProxyLogEntry,
    answerAfter?: Promise<void>,
  ): Promise<void> {
    return new Promise((resolve) => {
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !NOT_FORWARDED.has(k)) headers[k] = v;
      const up = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers,
        },
        (upRes) => {
          entry.status = upRes.statusCode;
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && !NOT_FORWARDED.has(k)) out[k] = v;
          const deliver = () => {
            if (res.destroyed) return resolve();
            res.writeHead(upRes.statusCode ?? 502, out);
            upRes.pipe(res);
            upRes.once('end', () => resolve());
            upRes.once('error', () => resolve());
          };
          // An unread response stays buffered in upRes until it is piped.
          if (answerAfter) void answerAfter.then(deliver);
          else deliver();
        },
      );
      up.once('error', () => {
        if (res.writableEnded || res.destroyed) return resolve();
        entry.outcome = 'upstream-error';
        entry.status = 502;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('fault proxy: upstream error');
        resolve();
      });
      res.once('close', () => {
        if (!res.writableFinished) {
          entry.outcome = 'aborted';
          up.destroy();
          resolve();
        }
      });
      req.pipe(up);
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const info = describeRequest(++seq, req);
    const entry: ProxyLogEntry = { ...info, outcome: 'forwarded', heldMs: 0 };
    log.push(entry);
    let gone = false;
    res.once('close', () => {
      if (!res.writableFinished) gone = true;
    });
    const rule = take(info);
    if (rule) {
      const started = Date.now();
      if (rule.rule.delayMs) await sleep(rule.rule.delayMs);
      if (rule.rule.hold) await Promise.race([rule.released, new Promise<void>((r) => res.once('close', r))]);
      entry.heldMs = Date.now() - started;
    }
    if (gone || res.destroyed) {
      entry.outcome = 'aborted';
      req.destroy();
      return;
    }
    if (rule?.rule.status) {
      entry.outcome = 'injected';
      entry.status = rule.rule.status;
      await answer(
        req,
        res,
        rule.rule.status,
        rule.rule.code ?? (rule.rule.status === 503 ? 'SlowDown' : 'InternalError'),
        rule.rule.json,
      );
      return;
    }
    if (rule?.rule.holdResponse) {
      const started = Date.now();
      await forward(req, res, entry, Promise.race([rule.released, new Promise<void>((r) => res.once('close', r))]));
      entry.heldMs += Date.now() - started;
      return;
    }
    await forward(req, res, entry);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`fault proxy: ${(err as Error).message}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    addRule(rule) {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      const active: ActiveRule = {
        rule,
        retired: false,
        matched: [],
        released,
        release,
        waiters: [],
        until: rule.forMs === undefined ? undefined : Date.now() + rule.forMs,
        remaining: rule.times,
      };
      rules.push(active);
      return {
        matched: active.matched,
        waitForMatches(count, timeoutMs = 60_000) {
          if (active.matched.length >= count) return Promise.resolve([...active.matched]);
          return new Promise((resolve, reject) => {
            const timer = setTimeout(
              () =>
                reject(
                  new Error(
                    `fault proxy: rule matched ${active.matched.length} of ${count} requests within ${timeoutMs} ms`,
                  ),
                ),
              timeoutMs,
            );
            active.waiters.push({
              count,
              resolve: () => {
                clearTimeout(timer);
                resolve([...active.matched]);
              },
            });
          });
        },
        release: () => retire(active),
      };
    },
    clearRules() {
      for (const r of [...rules]) retire(r);
    },
    async close() {
      for (const r of [...rules]) retire(r);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

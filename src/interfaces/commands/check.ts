import { createHash, randomBytes } from 'node:crypto';
import { GetCostAndUsageCommand, GetCostAndUsageWithResourcesCommand } from '@aws-sdk/client-cost-explorer';
import { clampedRange, resourceLevelQuery, serviceLevelQuery } from '../../../activities/cost-explorer';
import { resourcePlan } from '../../domain/collection';
import { DescribeEventBusCommand } from '@aws-sdk/client-eventbridge';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import proto from '@temporalio/proto';
import {
  classifyIsbRefusal,
  describeIsbRefusal,
  encodeLeaseId,
  ISB_TOKEN_ROLE,
  signIsbToken,
  type IsbRefusal,
} from '../../../activities/isb';
import { addDays, utcDay } from '../../domain/billing-window';
import { SEARCH_ATTRIBUTES } from '../../domain/search-attributes';
import { costExplorerClient, eventBridgeClient, jwtSecretLoader, s3Client } from '../../infrastructure/aws';
import type { Config } from '../../infrastructure/config';
import { CliError } from '../cli-error';
import { connect } from '../lease-status';
import { sql } from 'kysely';
import { openLedger, redactDatabaseUrl } from '../../infrastructure/ledger-db';

// CommonJS package: Node's ESM loader cannot see its named exports.
const { IndexedValueType } = proto.temporal.api.enums.v1;
const INDEXED_TYPE: Record<string, number> = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Double: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
};
/** A dependency that has not answered by then counts as failed, so `check` always finishes. */
const CHECK_TIMEOUT_MS = 20_000;
/** A lease that cannot exist: the ISB API answers 404 for it once it has accepted our token. */
const PROBE_LEASE = { userEmail: 'lease-costs-check@example.invalid', uuid: '00000000-0000-4000-8000-000000000000' };

export interface CheckResult {
  name: string;
  ok: boolean;
  /** What was verified, or what is wrong. */
  detail: string;
  /** How to fix it, when it failed. */
  fix?: string;
}

class CheckFailure extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
    this.name = 'CheckFailure';
  }
}

/** `Name: message` of an AWS SDK error, or the network error underneath. */
const awsReason = (err: unknown) => {
  const e = err as Error & { code?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  return e.name && e.name !== 'Error'
    ? `${e.name}: ${e.message}`
    : `${e.message}${code && !e.message.includes(code) ? ` (${code})` : ''}`;
};
const isAccessDenied = (err: unknown) =>
  /AccessDenied|UnauthorizedOperation|Forbidden/i.test((err as Error).name ?? '');

async function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new CheckFailure(
                `no answer from ${what} within ${CHECK_TIMEOUT_MS / 1000} s`,
                `check that ${what} is reachable from here`,
              ),
            ),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function checkTemporal(config: Config): Promise<string> {
  let client;
  try {
    client = await connect(config);
  } catch (err) {
    if (err instanceof CliError) {
      throw new CheckFailure(
        err.message,
        /namespace/.test(err.message)
          ? `create the namespace (temporal operator namespace create --namespace ${config.TEMPORAL_NAMESPACE}) or set TEMPORAL_NAMESPACE`
          : 'start Temporal or set TEMPORAL_ADDRESS (and TLS/API key settings) to a reachable frontend',
      );
    }
    throw err;
  }
  try {
    const { customAttributes } = await client.connection.operatorService.listSearchAttributes({
      namespace: config.TEMPORAL_NAMESPACE,
    });
    const present = customAttributes ?? {};
    const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => present[name] === undefined);
    const wrongType = Object.entries(SEARCH_ATTRIBUTES).filter(
      ([name, type]) => present[name] !== undefined && present[name] !== INDEXED_TYPE[type],
    );
    if (missing.length) {
      throw new CheckFailure(
        `namespace ${config.TEMPORAL_NAMESPACE} lacks search attributes ${missing.map(([n]) => n).join(', ')}`,
        `temporal operator search-attribute create --namespace ${config.TEMPORAL_NAMESPACE} ${missing.map(([n, t]) => `--name ${n} --type ${t}`).join(' ')}`,
      );
    }
    if (wrongType.length) {
      throw new CheckFailure(
        `search attributes of the wrong type: ${wrongType.map(([n, t]) => `${n} (want ${t})`).join(', ')}`,
        'remove them (temporal operator search-attribute remove) and create them with the types in the README',
      );
    }
    return `${config.TEMPORAL_ADDRESS}, namespace ${config.TEMPORAL_NAMESPACE}, search attributes ${Object.keys(SEARCH_ATTRIBUTES).join(', ')}`;
  } finally {
    await client.connection.close();
  }
}

async function checkRole(config: Config): Promise<string> {
  const sts = new STSClient({ region: process.env.AWS_REGION ?? 'us-east-1' });
  try {
    await sts.send(
      new AssumeRoleCommand({
        RoleArn: config.COST_EXPLORER_ROLE_ARN,
        RoleSessionName: 'lease-costs-check',
        DurationSeconds: 900,
      }),
    );
    return `assumed ${config.COST_EXPLORER_ROLE_ARN}`;
  } catch (err) {
    const caller = await sts.send(new GetCallerIdentityCommand({})).then(
      (r) => r.Arn,
      () => undefined,
    );
    throw new CheckFailure(
      `cannot assume ${config.COST_EXPLORER_ROLE_ARN}${caller ? ` as ${caller}` : ''}: ${awsReason(err)}`,
      isAccessDenied(err)
        ? `let ${caller ?? 'these credentials'} call sts:AssumeRole on the role, and make the role's trust policy allow it`
        : 'check COST_EXPLORER_ROLE_ARN, the AWS credentials and AWS_REGION',
    );
  } finally {
    sts.destroy();
  }
}

/**
 * Added to what the discovery found, so the resource query has the shape of a lease's with
 * services in several regions (a SERVICE list and an Or of per-region pairs) even for an account
 * with no costs yesterday.
 */
const PROBE_PAIRS: [string, string][] = [
  ['Amazon Elastic Compute Cloud - Compute', 'us-east-1'],
  ['Amazon Simple Storage Service', 'eu-west-2'],
];

/**
 * One day of data (yesterday) in exactly the query shapes collection sends (the same builder):
 * the discovery query, then a resource query planned from what it found, for the role's own
 * account. Each request costs USD 0.01; a shape Cost Explorer refuses shows here on day one.
 */
async function checkCostExplorer(config: Config): Promise<{ readable: CheckResult; resourceLevel: CheckResult }> {
  const ce = costExplorerClient(config.COST_EXPLORER_ROLE_ARN!);
  const today = utcDay(new Date().toISOString());
  const range = clampedRange({ kind: 'service', range: { start: addDays(today, -1), end: today } }, today)!;
  const accountId = /^arn:aws:iam::(\d{12}):/.exec(config.COST_EXPLORER_ROLE_ARN!)?.[1] ?? '';
  const grant = `give ${config.COST_EXPLORER_ROLE_ARN} ce:GetCostAndUsage and ce:GetCostAndUsageWithResources (README, "Cost-reading role")`;
  try {
    const pairs: [string, string][] = [];
    try {
      const page = await withTimeout(
        ce.send(new GetCostAndUsageCommand(serviceLevelQuery({ range }, accountId, config.COST_SCOPE))),
        'Cost Explorer',
      );
      for (const period of page.ResultsByTime ?? [])
        for (const g of period.Groups ?? []) pairs.push([g.Keys?.[0] ?? '', g.Keys?.[1] ?? '']);
    } catch (err) {
      const fail =
        err instanceof CheckFailure
          ? err
          : new CheckFailure(
              `GetCostAndUsage failed: ${awsReason(err)}`,
              isAccessDenied(err) ? grant : 'check the role and AWS_ENDPOINT_URL_COST_EXPLORER, if set',
            );
      return {
        readable: { name: 'cost explorer', ok: false, detail: fail.message, fix: fail.fix },
        resourceLevel: {
          name: 'resource-level data',
          ok: false,
          detail: 'not checked: Cost Explorer is not readable',
          fix: 'fix Cost Explorer access first',
        },
      };
    }
    const readable = {
      name: 'cost explorer',
      ok: true,
      detail: `GetCostAndUsage answered for ${range.start} (account ${accountId}) as ${config.COST_EXPLORER_ROLE_ARN}, COST_SCOPE ${config.COST_SCOPE}`,
    };
    const byRegion = resourcePlan([...pairs, ...PROBE_PAIRS])[0]!;
    try {
      await withTimeout(
        ce.send(
          new GetCostAndUsageWithResourcesCommand(
            resourceLevelQuery({ range, byRegion }, accountId, config.COST_SCOPE, 'MONTHLY'),
          ),
        ),
        'Cost Explorer',
      );
      return {
        readable,
        resourceLevel: {
          name: 'resource-level data',
          ok: true,
          detail: `GetCostAndUsageWithResources answered for ${range.start}, in the shape collection sends`,
        },
      };
    } catch (err) {
      const name = (err as Error).name;
      const fix =
        name === 'DataUnavailableException'
          ? 'enable it in the payer account: Cost Explorer → Preferences → "Resource-level data at daily granularity" (without it reports are service level only)'
          : isAccessDenied(err)
            ? grant
            : name === 'ValidationException'
              ? 'Cost Explorer refuses the resource query collection sends: reports will be service level for the last 14 days (docs/cost-explorer.md)'
              : 'see the error';
      return {
        readable,
        resourceLevel: {
          name: 'resource-level data',
          ok: false,
          detail: `GetCostAndUsageWithResources failed: ${awsReason(err)}`,
          fix,
        },
      };
    }
  } finally {
    ce.destroy();
  }
}

/** Writes, reads back (with the worker's SHA-256 checksum) and deletes a small object under the prefix. */
async function checkBucket(config: Config): Promise<string> {
  const s3 = s3Client();
  const bucket = config.S3_BUCKET_NAME!;
  const key = `${config.S3_KEY_PREFIX}lease-costs-check/${new Date().toISOString().replace(/[:.]/g, '')}-${randomBytes(4).toString('hex')}.txt`;
  const body = `lease-costs check probe, safe to delete\n`;
  const location = `s3://${bucket}/${key}`;
  const step = async <T>(action: string, p: () => Promise<T>): Promise<T> => {
    try {
      return await withTimeout(p(), 'S3');
    } catch (err) {
      if (err instanceof CheckFailure) throw err;
      const name = (err as Error).name;
      throw new CheckFailure(
        `${action} ${location} failed: ${awsReason(err)}`,
        name === 'NoSuchBucket'
          ? `create bucket ${bucket} or set S3_BUCKET_NAME to an existing one`
          : isAccessDenied(err)
            ? `grant s3:PutObject, s3:GetObject and s3:DeleteObject on arn:aws:s3:::${bucket}/${config.S3_KEY_PREFIX}*`
            : 'check S3_BUCKET_NAME, AWS_REGION and the AWS credentials',
      );
    }
  };
  try {
    await step('PutObject', () =>
      s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: 'text/plain',
          ChecksumAlgorithm: 'SHA256',
          ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
        }),
      ),
    );
    const read = await step('GetObject', async () =>
      (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString(),
    );
    if (read !== body)
      throw new CheckFailure(
        `GetObject ${location} returned other bytes than were written`,
        'check for a proxy or lifecycle rule rewriting objects',
      );
    await step('DeleteObject', () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
    return `wrote, read back and deleted s3://${bucket}/${config.S3_KEY_PREFIX}lease-costs-check/…`;
  } finally {
    s3.destroy();
  }
}

/** DescribeEventBus only: a real PutEvents would reach the bus's consumers. */
async function checkEventBus(config: Config): Promise<string> {
  const eb = eventBridgeClient();
  try {
    const bus = await withTimeout(eb.send(new DescribeEventBusCommand({ Name: config.EVENT_BUS_NAME })), 'EventBridge');
    return `event bus ${bus.Arn ?? config.EVENT_BUS_NAME} exists`;
  } catch (err) {
    if (err instanceof CheckFailure) throw err;
    throw new CheckFailure(
      `DescribeEventBus ${config.EVENT_BUS_NAME} failed: ${awsReason(err)}`,
      (err as Error).name === 'ResourceNotFoundException'
        ? `create the bus or set EVENT_BUS_NAME to an existing one (in AWS_REGION ${process.env.AWS_REGION ?? '(unset)'})`
        : isAccessDenied(err)
          ? `grant events:DescribeEventBus and events:PutEvents on the bus ${config.EVENT_BUS_NAME}`
          : 'check EVENT_BUS_NAME, AWS_REGION and the AWS credentials',
    );
  } finally {
    eb.destroy();
  }
}

/**
 * Secrets Manager decrypts the ISB's secret with the ISB's own KMS key (rest-api-all.ts): without
 * kms:Decrypt on it, GetSecretValue fails with `AccessDeniedException: Access to KMS is not allowed`
 * (or DecryptionFailure / a KMS* error when the key is disabled or gone).
 */
function isKmsDecryptFailure(err: unknown): boolean {
  const { name = '', message = '' } = (err ?? {}) as Error;
  return (
    /^(DecryptionFailure|KMS\w*Exception)$/.test(name) ||
    (/AccessDenied/i.test(name) && /\bKMS\b|kms:Decrypt/i.test(message))
  );
}

/** The secret-read failure as `check` reports it. */
function secretReadFailure(
  err: unknown,
  config: Pick<Config, 'ISB_JWT_SECRET_PATH'>,
): { message: string; fix: string } {
  const source = `secret ${config.ISB_JWT_SECRET_PATH}`;
  if (isKmsDecryptFailure(err)) {
    return {
      message: `cannot decrypt ${source}: ${awsReason(err)}`,
      fix: "grant kms:Decrypt on the ISB's KMS key that encrypts the secret (the hub stack's IsbKmsKeyArn parameter; docs/isb-api.md)",
    };
  }
  return {
    message: `cannot read ${source}: ${awsReason(err)}`,
    fix: isAccessDenied(err)
      ? `grant secretsmanager:GetSecretValue on ${config.ISB_JWT_SECRET_PATH}`
      : 'check ISB_JWT_SECRET_PATH (a Secrets Manager id in AWS_REGION)',
  };
}

/**
 * Reads the first lease of `GET /leases` (only Manager and Admin may list every lease) and looks it
 * up by id, as a run does; with no lease at all, looks up one that cannot exist (404 then proves
 * the token passed). A refusal names the layer of the ISB that refused it.
 */
async function checkIsbApi(config: Config): Promise<string> {
  const secretSource = config.ISB_JWT_SECRET ? 'ISB_JWT_SECRET' : `secret ${config.ISB_JWT_SECRET_PATH}`;
  let secret: string;
  try {
    secret = await withTimeout(jwtSecretLoader(config)(), 'Secrets Manager');
  } catch (err) {
    if (err instanceof CheckFailure) throw err;
    const failure = secretReadFailure(err, config);
    throw new CheckFailure(failure.message, failure.fix);
  }
  const { value } = await signIsbToken(secret, config.ISB_JWT_USER_EMAIL);
  const base = config.ISB_API_BASE_URL!.replace(/\/+$/, '');
  const get = async (path: string) => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        headers: { authorization: `Bearer ${value}`, accept: 'application/json' },
        signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
      });
    } catch (err) {
      throw new CheckFailure(
        `no answer from ${config.ISB_API_BASE_URL}: ${awsReason(err)}`,
        'check ISB_API_BASE_URL and that the API is reachable from here',
      );
    }
    const text = (await res.text()).slice(0, 100_000);
    const refusal = classifyIsbRefusal(res.status, res.headers, text);
    if (refusal && refusal !== 'bad-request') {
      throw new CheckFailure(
        `${config.ISB_API_BASE_URL} ${describeIsbRefusal(refusal)}: ${res.status} for GET ${path.split('?')[0]} as ${config.ISB_JWT_USER_EMAIL} (${ISB_TOKEN_ROLE})`,
        REFUSAL_FIX[refusal](secretSource),
      );
    }
    return { status: res.status, text };
  };
  const list = await get('/leases?pageSize=1');
  if (list.status !== 200) {
    throw new CheckFailure(
      `${config.ISB_API_BASE_URL} answered ${list.status} to GET /leases`,
      'check ISB_API_BASE_URL: it should be the API root that serves /leases',
    );
  }
  let first: { userEmail?: string; uuid?: string } | undefined;
  try {
    first = (JSON.parse(list.text) as { data?: { result?: { userEmail?: string; uuid?: string }[] } }).data
      ?.result?.[0];
  } catch {
    throw new CheckFailure(
      `${config.ISB_API_BASE_URL} answered GET /leases with something other than JSON`,
      'check ISB_API_BASE_URL: it should be the API root that serves /leases',
    );
  }
  const probe = first?.userEmail && first.uuid ? { userEmail: first.userEmail, uuid: first.uuid } : PROBE_LEASE;
  const lookup = await get(`/leases/${encodeLeaseId(probe.userEmail, probe.uuid)}`);
  if (first && lookup.status === 200)
    return `${config.ISB_API_BASE_URL} lists leases and looked up lease ${probe.uuid} for ${config.ISB_JWT_USER_EMAIL} (${ISB_TOKEN_ROLE})`;
  if (!first && lookup.status === 404)
    return `${config.ISB_API_BASE_URL} accepted our token (no leases yet; 404 for a lease that cannot exist)`;
  throw new CheckFailure(
    `${config.ISB_API_BASE_URL} answered ${lookup.status} looking up lease ${probe.uuid}${first ? ', which it had just listed' : ''}`,
    'check ISB_API_BASE_URL: it should be the API root that serves /leases/{id}',
  );
}

const REFUSAL_FIX: Record<IsbRefusal, (secretSource: string) => string> = {
  'invalid-user': () => 'set ISB_JWT_USER_EMAIL to an e-mail address such as lease-costs@innovation-sandbox.local',
  'bad-request': () => 'see the message',
  'bad-signature': (source) => `${source} must hold the ISB API's current JWT signing secret`,
  'authorizer-denied': (source) =>
    `${source} must hold the ISB API's current JWT signing secret (after a rotation, the ISB's authorizer may need a few minutes)`,
  'role-not-allowed': () =>
    `the token carries role ${ISB_TOKEN_ROLE}; an ISB that refuses it to list leases differs from the ISB source this was built against`,
  'waf-blocked': () => "add this host's public address (its NAT gateway) to the ISB WAF's allowed IP set",
  'rate-limited': () => 'wait a minute: the ISB WAF allows 200 requests per 60 s per address',
};

/** Connects and asks the server's version: changes nothing (workers migrate the schema at start). */
async function checkLedger(config: Config): Promise<string> {
  if (!config.LEDGER_ENABLED) return 'off (LEDGER_ENABLED=false): reports are not recorded in a ledger';
  const where = redactDatabaseUrl(config.DATABASE_URL!);
  const db = openLedger(config.DATABASE_URL!, { max: 1 });
  try {
    const { rows } = await sql<{ version: string }>`select version() as version`.execute(db);
    return `${where} answered (${rows[0]!.version.split(' ').slice(0, 2).join(' ')})`;
  } catch (err) {
    throw new CheckFailure(
      `cannot reach ${where}: ${(err as Error).message}`,
      'check DATABASE_URL and that PostgreSQL accepts connections from here (or set LEDGER_ENABLED=false)',
    );
  } finally {
    await db.destroy();
  }
}

async function run(name: string, fn: () => Promise<string>): Promise<CheckResult> {
  try {
    return { name, ok: true, detail: await withTimeout(fn(), name) };
  } catch (err) {
    if (err instanceof CheckFailure) return { name, ok: false, detail: err.message, fix: err.fix };
    return { name, ok: false, detail: awsReason(err), fix: 'unexpected: see the message' };
  }
}

export async function runChecks(config: Config): Promise<CheckResult[]> {
  // Temporal first, on its own: its connect timeout is the server's to meet, and the other checks'
  // start-up work (AWS clients, credential providers, the ledger pool) would otherwise count
  // against it on a busy host.
  const temporal = await run('temporal', () => checkTemporal(config));
  // The rest are independent, so concurrent: the slowest sets the time, not their sum.
  const role = run('role', () => checkRole(config));
  const [roleResult, ce, bucket, bus, isb, ledger] = await Promise.all([
    role,
    // Cost Explorer is read as the role: without it, its errors would only repeat the role's.
    role.then((r) =>
      r.ok
        ? checkCostExplorer(config)
        : {
            readable: {
              name: 'cost explorer',
              ok: false,
              detail: 'not checked: the role cannot be assumed',
              fix: 'fix the role first',
            },
            resourceLevel: {
              name: 'resource-level data',
              ok: false,
              detail: 'not checked: the role cannot be assumed',
              fix: 'fix the role first',
            },
          },
    ),
    run('s3 bucket', () => checkBucket(config)),
    run('event bus', () => checkEventBus(config)),
    run('isb api', () => checkIsbApi(config)),
    run('ledger', () => checkLedger(config)),
  ]);
  return [temporal, roleResult, ce.readable, ce.resourceLevel, bucket, bus, isb, ledger];
}

export async function checkCommand(config: Config, opts: { json?: boolean }): Promise<void> {
  const results = await runChecks(config);
  const failed = results.filter((r) => !r.ok).length;
  if (opts.json) {
    console.log(JSON.stringify({ ok: failed === 0, checks: results }, null, 2));
  } else {
    const width = Math.max(...results.map((r) => r.name.length));
    for (const r of results)
      console.log(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(width)}  ${r.detail}${r.fix ? `; fix: ${r.fix}` : ''}`);
    console.log(failed ? `${failed} of ${results.length} checks failed` : `all ${results.length} checks passed`);
  }
  if (failed) process.exitCode = 1;
}

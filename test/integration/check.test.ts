import { randomBytes } from 'node:crypto';
import { msToTs } from '@temporalio/common/lib/time';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsEnvFor } from '../../support/aws';
import { runCli } from '../helpers/cli';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { startStack, type Stack } from '../helpers/stack';

// `lease-costs check` as a process against the local stack: all green first, then each dependency
// broken in turn, one test each, on one shared stack.
const NAMES = [
  'temporal',
  'role',
  'cost explorer',
  'resource-level data',
  's3 bucket',
  'event bus',
  'isb api',
  'ledger',
];
let stack: Stack;
let stsProxy: FaultProxy;
let env: Record<string, string>;

beforeAll(async () => {
  stack = await startStack();
  stsProxy = await startFaultProxy(stack.motoEndpoint);
  const c = stack.config;
  env = {
    ...awsEnvFor(stack.motoEndpoint, {
      AWS_ENDPOINT_URL_COST_EXPLORER: stack.ce.endpoint,
      AWS_ENDPOINT_URL_STS: stsProxy.endpoint,
    }),
    TEMPORAL_ADDRESS: c.TEMPORAL_ADDRESS,
    TEMPORAL_TASK_QUEUE: c.TEMPORAL_TASK_QUEUE,
    COST_EXPLORER_ROLE_ARN: c.COST_EXPLORER_ROLE_ARN!,
    S3_BUCKET_NAME: c.S3_BUCKET_NAME!,
    S3_KEY_PREFIX: c.S3_KEY_PREFIX,
    EVENT_BUS_NAME: c.EVENT_BUS_NAME!,
    ISB_API_BASE_URL: c.ISB_API_BASE_URL!,
    ISB_JWT_SECRET_PATH: c.ISB_JWT_SECRET_PATH!,
    DATABASE_URL: c.DATABASE_URL!,
  };
});
afterAll(async () => {
  await stsProxy?.close();
  await stack?.stop();
});

/** Runs `check` and returns its line per dependency, after checking the shape of the whole output. */
async function check(overrides: Record<string, string> = {}) {
  const res = await runCli(['check'], { ...env, ...overrides });
  const lines = res.stdout.trim().split('\n');
  expect(lines, res.stdout + res.stderr).toHaveLength(NAMES.length + 1);
  const byName = new Map(
    NAMES.map((name, i) => {
      const m = lines[i]!.match(/^(ok|FAIL)\s+(.+?)\s{2,}(.*)$/);
      expect(m?.[2], lines[i]).toBe(name);
      return [name, { ok: m![1] === 'ok', text: m![3]! }];
    }),
  );
  expect(res.stderr).not.toMatch(/\n\s+at /);
  return { code: res.code, summary: lines.at(-1)!, byName };
}

/** Exactly the named checks failed, each saying how to fix it; the exit code is 1. */
async function expectOnlyFailing(overrides: Record<string, string>, failing: Record<string, RegExp>) {
  const { code, summary, byName } = await check(overrides);
  for (const name of NAMES) {
    const line = byName.get(name)!;
    expect(line.ok, `${name}: ${line.text}`).toBe(!(name in failing));
    if (name in failing) {
      expect(line.text).toMatch(failing[name]!);
      expect(line.text).toMatch(/; fix: \S/);
    }
  }
  expect(summary).toBe(`${Object.keys(failing).length} of ${NAMES.length} checks failed`);
  expect(code).toBe(1);
  return byName;
}

describe('lease-costs check', () => {
  it('passes every check against a working configuration, and exits 0', async () => {
    const { code, summary, byName } = await check();
    for (const [name, line] of byName) expect(line.ok, `${name}: ${line.text}`).toBe(true);
    expect(summary).toBe(`all ${NAMES.length} checks passed`);
    expect(code).toBe(0);
    expect(byName.get('temporal')!.text).toContain(
      'search attributes LeaseUuid, AwsAccountId, LeasePhase, LeaseTotalCost',
    );
    // The probe object is gone again.
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const listed = await stack.s3.send(
      new ListObjectsV2Command({
        Bucket: stack.config.S3_BUCKET_NAME,
        Prefix: `${stack.config.S3_KEY_PREFIX}lease-costs-check/`,
      }),
    );
    expect(listed.KeyCount ?? 0).toBe(0);
  });

  it('--json gives the same verdicts', async () => {
    const res = await runCli(['check', '--json'], { ...env, EVENT_BUS_NAME: 'no-such-bus' });
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout) as { ok: boolean; checks: { name: string; ok: boolean; fix?: string }[] };
    expect(out.ok).toBe(false);
    expect(out.checks.map((c) => c.name)).toEqual(NAMES);
    expect(out.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['event bus']);
  });

  it('Temporal unreachable', async () => {
    await expectOnlyFailing(
      { TEMPORAL_ADDRESS: '127.0.0.1:1' },
      { temporal: /cannot reach Temporal at 127\.0\.0\.1:1.*fix: start Temporal or set TEMPORAL_ADDRESS/ },
    );
  });

  it('Temporal namespace missing', async () => {
    await expectOnlyFailing(
      { TEMPORAL_NAMESPACE: 'no-such-namespace' },
      { temporal: /namespace "no-such-namespace" does not exist.*fix: create the namespace/ },
    );
  });

  it('search attributes missing: a namespace nobody registered them in', async () => {
    const namespace = `check-${randomBytes(4).toString('hex')}`;
    await stack.client.connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
    await expectOnlyFailing(
      { TEMPORAL_NAMESPACE: namespace },
      {
        temporal: new RegExp(
          `lacks search attributes LeaseUuid, AwsAccountId, LeasePhase, LeaseTotalCost; fix: temporal operator search-attribute create --namespace ${namespace} --name LeaseUuid --type Keyword`,
        ),
      },
    );
  });

  it('role not assumable: STS denies AssumeRole (and Cost Explorer is not tried)', async () => {
    const rule = stsProxy.addRule({ match: (r) => r.awsQuery, status: 403, code: 'AccessDenied' });
    try {
      const lines = await expectOnlyFailing(
        {},
        {
          role: /cannot assume arn:aws:iam::999988887777:role\/IsbCostExplorerAccess: AccessDenied.*fix: let .* call sts:AssumeRole/,
          'cost explorer': /not checked: the role cannot be assumed/,
          'resource-level data': /not checked/,
        },
      );
      expect(lines.get('role')!.text).toContain('trust policy');
    } finally {
      rule.release();
    }
  });

  it('Cost Explorer not readable: the role lacks ce:GetCostAndUsage', async () => {
    stack.ce.setAccessDenied(true);
    try {
      await expectOnlyFailing(
        {},
        {
          'cost explorer': /GetCostAndUsage failed: AccessDeniedException.*fix: give .* ce:GetCostAndUsage/,
          'resource-level data': /not checked: Cost Explorer is not readable/,
        },
      );
    } finally {
      stack.ce.resetFaults();
    }
  });

  it('resource-level data not enabled: DataUnavailableException', async () => {
    stack.ce.setResourceLevelEnabled(false);
    try {
      await expectOnlyFailing(
        {},
        {
          'resource-level data':
            /DataUnavailableException.*fix: enable it in the payer account: Cost Explorer → Preferences/,
        },
      );
    } finally {
      stack.ce.setResourceLevelEnabled(true);
    }
  });

  it("a resource query in collection's shape that Cost Explorer refuses: named on day one, with what it means", async () => {
    stack.ce.setOneServicePerResourceQuery(true);
    stack.ce.resetCalls();
    try {
      await expectOnlyFailing(
        {},
        {
          'resource-level data':
            /GetCostAndUsageWithResources failed: ValidationException.*fix: Cost Explorer refuses the resource query collection sends: reports will be service level/,
        },
      );
      // The shape collection sends (the same builder): MONTHLY by SERVICE and RESOURCE_ID, both cost
      // metrics, SERVICE at the filter's top level and per-region pairs under an Or.
      const sent = stack.ce.calls.find((c) => c.operation === 'GetCostAndUsageWithResources')!.request as Record<
        string,
        unknown
      >;
      expect(sent).toMatchObject({
        Granularity: 'MONTHLY',
        Metrics: ['UnblendedCost', 'AmortizedCost'],
        GroupBy: [
          { Type: 'DIMENSION', Key: 'SERVICE' },
          { Type: 'DIMENSION', Key: 'RESOURCE_ID' },
        ],
        Filter: {
          And: [
            { Dimensions: { Key: 'LINKED_ACCOUNT', Values: ['999988887777'] } },
            { Dimensions: { Key: 'RECORD_TYPE', Values: ['Usage'] } },
            { Dimensions: { Key: 'SERVICE' } },
            { Or: [{ And: [{ Dimensions: { Key: 'REGION' } }, { Dimensions: { Key: 'SERVICE' } }] }, {}] },
          ],
        },
      });
    } finally {
      stack.ce.setOneServicePerResourceQuery(false);
    }
  });

  it('bucket missing', async () => {
    await expectOnlyFailing(
      { S3_BUCKET_NAME: 'no-such-bucket-lease-costs' },
      {
        's3 bucket':
          /PutObject s3:\/\/no-such-bucket-lease-costs\/reports\/lease-costs-check\/\S+ failed: NoSuchBucket.*fix: create bucket/,
      },
    );
  });

  it('ledger unreachable: named without its password', async () => {
    await expectOnlyFailing(
      { DATABASE_URL: 'postgres://ledger:s3cret@127.0.0.1:1/ledger' },
      { ledger: /cannot reach postgres:\/\/ledger:\*\*\*@127\.0\.0\.1:1\/ledger: .*fix: check DATABASE_URL/ },
    );
  });

  it('event bus missing', async () => {
    await expectOnlyFailing(
      { EVENT_BUS_NAME: 'no-such-bus' },
      {
        'event bus':
          /DescribeEventBus no-such-bus failed: ResourceNotFoundException.*fix: create the bus or set EVENT_BUS_NAME/,
      },
    );
  });

  it('ISB API refuses our token: the wrong signing secret, denied by its authorizer (403)', async () => {
    await expectOnlyFailing(
      { ISB_JWT_SECRET_PATH: '', ISB_JWT_SECRET: 'not-the-isb-signing-secret' },
      {
        'isb api':
          /denied the token at its authorizer \(wrong or rotated signing secret.*: 403 for GET \/leases as lease-costs@innovation-sandbox\.local \(Manager\); fix: ISB_JWT_SECRET must hold/,
      },
    );
  });

  it('ISB API behind its WAF: a blocked address is named as such, not as a wrong secret', async () => {
    stack.isb.setWafBlocked(true);
    try {
      const lines = await expectOnlyFailing(
        {},
        { 'isb api': /blocked the request at its WAF.*: 403 .*fix: add this host's public address .* allowed IP set/ },
      );
      expect(lines.get('isb api')!.text).not.toMatch(/secret/);
    } finally {
      stack.isb.setWafBlocked(false);
    }
  });

  it('ISB API: one real lookup of a listed lease, by its raw padded id', async () => {
    const lease = { uuid: '7b0c2a4e-3f5d-4e6a-9b8c-1d2e3f4a5b6c', userEmail: 'check@example.co.uk' };
    stack.isb.addLease({
      ...lease,
      accountId: '123456789012',
      startDate: '2026-01-02T03:04:05Z',
      endDate: '2026-01-03T03:04:05Z',
      status: 'Expired',
    });
    stack.isb.resetCalls();
    try {
      const { byName } = await check();
      expect(byName.get('isb api')).toEqual({
        ok: true,
        text: expect.stringContaining(
          `looked up lease ${lease.uuid} for lease-costs@innovation-sandbox.local (Manager)`,
        ),
      });
      expect(stack.isb.calls.map((c) => [c.path, c.status])).toEqual([
        ['/leases', 200],
        [
          `/leases/${Buffer.from(JSON.stringify({ userEmail: lease.userEmail, uuid: lease.uuid })).toString('base64')}`,
          200,
        ],
      ]);
    } finally {
      stack.isb.removeLease(lease.userEmail, lease.uuid);
    }
  });

  it("ISB secret not decryptable: Secrets Manager is refused the ISB's KMS key", async () => {
    // What GetSecretValue answers without kms:Decrypt on a customer-managed key.
    const rule = stsProxy.addRule({
      match: (r) => r.target === 'secretsmanager.GetSecretValue',
      status: 400,
      json: { __type: 'AccessDeniedException', Message: 'Access to KMS is not allowed' },
    });
    try {
      await expectOnlyFailing(
        { AWS_ENDPOINT_URL_SECRETS_MANAGER: stsProxy.endpoint },
        {
          'isb api':
            /cannot decrypt secret \S+: AccessDeniedException: Access to KMS is not allowed; fix: grant kms:Decrypt on the ISB's KMS key .*IsbKmsKeyArn/,
        },
      );
    } finally {
      rule.release();
    }
  });

  it('ISB secret missing from Secrets Manager', async () => {
    await expectOnlyFailing(
      { ISB_JWT_SECRET_PATH: 'isb/no-such-secret' },
      { 'isb api': /cannot read secret isb\/no-such-secret: ResourceNotFoundException/ },
    );
  });

  it('a configuration that does not parse exits 2 and names the variables, checking nothing', async () => {
    const res = await runCli(['check'], { ...env, S3_BUCKET_NAME: '', COST_EXPLORER_ROLE_ARN: 'not-an-arn' });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('S3_BUCKET_NAME: is required');
    expect(res.stderr).toContain('COST_EXPLORER_ROLE_ARN: must be arn:aws:iam::<12 digits>:role/<name>');
    expect(res.stdout).toBe('');
  });
});

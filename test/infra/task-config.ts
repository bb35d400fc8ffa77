import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DRIVER_VARIABLES } from '../../infra/hub/service';
import { VPC_CIDR } from '../../infra/hub/stack';
import { ConfigSchema, loadConfig } from '../../src/infrastructure/config';
import { buildCli, COMMAND_ROLES, type ConfiguredCommand } from '../../src/interfaces/cli';
import { resourcesOf, type Synthesized } from './synth';

// Not a test file itself: hub-stack.test.ts and hub-sqs-intake.test.ts run these on their stacks.
// Every task of the hub stack passes the start-up configuration check of its command: the
// environment and secrets come from the synthesized template, with CloudFormation's intrinsics
// resolved against stand-in parameter values and the secrets replaced by values of the shape the
// secret really holds. A stack that would exit 2 at start (and be rolled back) fails here.

type Cfn = Record<string, any>;

/** What an operator passes (the examples of docs/deploy-aws.md), each checked against its AllowedPattern below. */
const PARAMETERS: Record<string, string> = {
  ManagementAccountId: '111111111111',
  CostExplorerExternalId: randomBytes(24).toString('hex'),
  AlarmEmail: 'ops@example.gov.uk',
  IsbEventBusArn: 'arn:aws:events:eu-west-2:222222222222:event-bus/InnovationSandboxComputeISBEventBus',
  IsbApiBaseUrl: 'https://isb.example.gov.uk/api',
  IsbJwtSecretArn: 'arn:aws:secretsmanager:eu-west-2:222222222222:secret:/InnovationSandbox/ndx/Auth/JwtSecret-AbCdEf',
  TemporalSecretArn: 'arn:aws:secretsmanager:eu-west-2:222222222222:secret:lease-costs/temporal-AbCdEf',
  PayloadEncryptionKeysSecretArn:
    'arn:aws:secretsmanager:eu-west-2:222222222222:secret:lease-costs/payload-keys-AbCdEf',
  WebhookDomainName: 'lease-costs.example.gov.uk',
  CertificateArn: 'arn:aws:acm:eu-west-2:222222222222:certificate/0f2b3c4d-1111-2222-3333-444455556666',
};
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'eu-west-2',
  'AWS::AccountId': '222222222222',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'LeaseCostsHub',
};
/** What a Ref or GetAtt of a resource gives, by resource type, as AWS formats it. */
const REF: Record<string, (id: string) => string> = {
  'AWS::S3::Bucket': (id) => `leasecostshub-${id.toLowerCase().slice(0, 30)}-1a2b3c4d5e6f`,
  'AWS::SQS::Queue': (id) => `https://sqs.eu-west-2.amazonaws.com/222222222222/LeaseCostsHub-${id}-AbCdEf123456`,
  'AWS::SecretsManager::Secret': (id) => `arn:aws:secretsmanager:eu-west-2:222222222222:secret:${id}-AbCdEf`,
  'AWS::SecretsManager::SecretTargetAttachment': (id) =>
    `arn:aws:secretsmanager:eu-west-2:222222222222:secret:${id}-AbCdEf`,
};
const GET_ATT: Record<string, (id: string) => string> = {
  'AWS::RDS::DBInstance/Endpoint.Address': (id) =>
    `leasecostshub-${id.toLowerCase()}.c1a2b3c4d5e6.eu-west-2.rds.amazonaws.com`,
  'AWS::RDS::DBInstance/Endpoint.Port': () => '5432',
};
/** Secrets that live outside the stack, in the shape docs/deploy-aws.md tells the operator to create them. */
const EXTERNAL_SECRETS: Record<string, () => string> = {
  TemporalSecretArn: () =>
    JSON.stringify({
      address: 'lease-costs.a1b2c.tmprl.cloud:7233',
      namespace: 'lease-costs.a1b2c',
      apiKey: randomBytes(40).toString('base64url'),
    }),
  PayloadEncryptionKeysSecretArn: () => `k1:${randomBytes(32).toString('base64')}`,
};

function standIns(hub: Synthesized) {
  const json = hub.json as Synthesized['json'] & { Parameters: Cfn };
  const resources = json.Resources as Record<string, Cfn>;
  const resolve = (v: unknown): string => {
    if (typeof v === 'string' || typeof v === 'number') return String(v);
    const node = v as Cfn;
    if ('Ref' in node) {
      const ref = node.Ref as string;
      if (ref in PSEUDO) return PSEUDO[ref]!;
      if (ref in json.Parameters) return PARAMETERS[ref] ?? String(json.Parameters[ref].Default);
      const type = resources[ref]?.Type as string;
      if (!REF[type]) throw new Error(`no stand-in for Ref to ${ref} (${type}): add one`);
      return REF[type](ref);
    }
    if ('Fn::GetAtt' in node) {
      const [id, attr] = node['Fn::GetAtt'] as [string, string];
      const make = GET_ATT[`${resources[id]?.Type}/${attr}`];
      if (!make) throw new Error(`no stand-in for GetAtt ${id}.${attr}: add one`);
      return make(id);
    }
    if ('Fn::Join' in node) {
      const [sep, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(sep);
    }
    if ('Fn::Select' in node) {
      const [i, list] = node['Fn::Select'] as [number, Cfn];
      const items =
        'Fn::Split' in list
          ? resolve(list['Fn::Split'][1]).split(list['Fn::Split'][0])
          : (list as unknown[]).map(resolve);
      return items[i]!;
    }
    throw new Error(`no stand-in for ${JSON.stringify(node)}`);
  };

  /** A value shaped like the secret: a generated one by its own generation settings, an external one by the docs. */
  const secretValue = (valueFrom: unknown): string => {
    const node = valueFrom as Cfn;
    const [arnPart, jsonKey] =
      'Fn::Join' in node ? [node['Fn::Join'][1][0], String(node['Fn::Join'][1][1]).split(':')[1]] : [node, undefined];
    const ref = (arnPart as Cfn).Ref as string;
    let body: string;
    if (EXTERNAL_SECRETS[ref]) {
      body = EXTERNAL_SECRETS[ref]();
    } else {
      const secretId =
        resources[ref]?.Type === 'AWS::SecretsManager::SecretTargetAttachment'
          ? resources[ref]!.Properties.SecretId.Ref
          : ref;
      const generate = resources[secretId]?.Properties?.GenerateSecretString as Cfn | undefined;
      if (!generate) throw new Error(`no stand-in for the secret ${ref}: add one`);
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
        .split('')
        .filter((c) => !String(generate.ExcludeCharacters ?? '').includes(c));
      const password = Array.from(
        randomBytes(generate.PasswordLength ?? 32),
        (b) => alphabet[b % alphabet.length],
      ).join('');
      body = generate.SecretStringTemplate
        ? JSON.stringify({ ...JSON.parse(generate.SecretStringTemplate), [generate.GenerateStringKey]: password })
        : password;
    }
    if (jsonKey === undefined) return body;
    const field = (JSON.parse(body) as Record<string, string>)[jsonKey];
    if (field === undefined) throw new Error(`secret ${ref} has no key ${jsonKey}`);
    return field;
  };
  return { resolve, secretValue, parameters: json.Parameters };
}

/** Every container of the stack: its command and the environment it starts with. */
function containers(hub: Synthesized) {
  const { resolve, secretValue } = standIns(hub);
  return resourcesOf(hub, 'AWS::ECS::TaskDefinition').map(([id, task]) => {
    const c = task.ContainerDefinitions[0] as Cfn;
    const env: Record<string, string> = {};
    for (const e of c.Environment ?? []) env[e.Name] = resolve(e.Value);
    for (const s of c.Secrets ?? []) env[s.Name] = secretValue(s.ValueFrom);
    return {
      id,
      command: (c.Command as unknown[]).map(resolve),
      env,
      names: [...(c.Environment ?? []), ...(c.Secrets ?? [])].map((e: Cfn) => e.Name as string),
    };
  });
}

/** The command as the CLI sees it (`schedule install` is two words), and its options. */
function commandOf(argv: string[]): { command: ConfiguredCommand; options: string[] } {
  const two = `${argv[0]} ${argv[1]}`;
  const [command, rest] =
    two in COMMAND_ROLES ? [two as ConfiguredCommand, argv.slice(2)] : [argv[0] as ConfiguredCommand, argv.slice(1)];
  expect(Object.keys(COMMAND_ROLES), argv.join(' ')).toContain(command);
  return { command, options: rest.filter((a) => a.startsWith('--')) };
}

const cliOptions = (command: string): string[] => {
  let cmd = buildCli();
  for (const word of command.split(' ')) cmd = cmd.commands.find((c) => c.name() === word)!;
  return cmd.options.map((o) => o.long!);
};

/** What an operator runs on the one-off task (docs/deploy-aws.md). */
const OPERATOR_COMMANDS: ConfiguredCommand[] = [
  'check',
  'backfill',
  'rerun',
  'status',
  'collect-now',
  'schedule install',
  'costs',
  'deployment status',
  'deployment promote',
];

/** The tests, on a hub already synthesized by the calling file (one synthesis per variant is enough). */
export function describeTaskStarts(hub: Synthesized, opts: { intake: 'api-destination' | 'sqs' }): void {
  describe('every task of the hub stack starts', () => {
    const tasks = containers(hub);

    it('uses stand-in parameters that the template itself accepts', () => {
      const { parameters } = standIns(hub);
      for (const [name, value] of Object.entries(PARAMETERS)) {
        expect(parameters[name], name).toBeDefined();
        if (parameters[name].AllowedPattern) expect(value, name).toMatch(new RegExp(parameters[name].AllowedPattern));
      }
    });

    it('gives each container only variables lease-costs, the Temporal SDK or its PostgreSQL driver reads', () => {
      // TEMPORAL_API_KEY is read by the SDK's environment configuration (@temporalio/envconfig), not our schema.
      const known = new Set<string>([...Object.keys(ConfigSchema.shape), ...DRIVER_VARIABLES, 'TEMPORAL_API_KEY']);
      for (const t of tasks) for (const name of t.names) expect(known.has(name), `${t.id}: ${name}`).toBe(true);
      for (const t of tasks.filter((x) => x.env.TEMPORAL_API_KEY)) {
        expect(loadConfig(t.env, []).temporalConnection.apiKey, t.id).toBe(t.env.TEMPORAL_API_KEY);
      }
    });

    it('passes the start-up configuration check of each command it runs', () => {
      const checked: string[] = [];
      for (const t of tasks) {
        const { command, options } = commandOf(t.command);
        for (const option of options)
          expect(cliOptions(command), `${t.id}: lease-costs ${command} ${option}`).toContain(option);
        // The one-off task's command is overridden at run-task time: each documented one must start too.
        const commands = t.id.startsWith('Operator') ? OPERATOR_COMMANDS : [command];
        for (const c of commands) {
          expect(() => loadConfig(t.env, [...COMMAND_ROLES[c]]), `${t.id}: lease-costs ${c}`).not.toThrow();
          checked.push(c);
        }
      }
      expect(checked).toEqual(expect.arrayContaining(['worker', 'webhook', ...OPERATOR_COMMANDS]));
      if (opts.intake === 'sqs') expect(checked).toContain('intake');
    });

    it('runs each worker build versioned under its own build id, in the deployment the operator task promotes in', () => {
      const workers = tasks
        .filter((t) => t.command[0] === 'worker')
        .map((t) => loadConfig(t.env, [...COMMAND_ROLES.worker]));
      const operator = loadConfig(tasks.find((t) => t.id.startsWith('Operator'))!.env, [
        ...COMMAND_ROLES['deployment promote'],
      ]);
      expect(workers.length).toBeGreaterThan(0);
      expect(new Set(workers.map((w) => w.TEMPORAL_WORKER_BUILD_ID)).size).toBe(workers.length);
      for (const w of workers) {
        expect(w.TEMPORAL_WORKER_BUILD_ID).toBeTruthy();
        expect([w.TEMPORAL_DEPLOYMENT_NAME, w.TEMPORAL_TASK_QUEUE, w.TEMPORAL_NAMESPACE]).toEqual([
          operator.TEMPORAL_DEPLOYMENT_NAME,
          operator.TEMPORAL_TASK_QUEUE,
          operator.TEMPORAL_NAMESPACE,
        ]);
      }
      expect(operator.TEMPORAL_WORKER_BUILD_ID).toBeUndefined();
    });

    it('keeps the ledger on and trusts X-Forwarded-For only from the VPC, where the load balancer lives', () => {
      const worker = tasks.find((t) => t.command[0] === 'worker')!;
      const config = loadConfig(worker.env, [...COMMAND_ROLES.worker]);
      expect(config.LEDGER_ENABLED).toBe(true);
      expect(config.PAYLOAD_ENCRYPTION_KEYS).toMatch(/^k1:/);
      // node-postgres takes the user and password from PGUSER/PGPASSWORD when the URL has none.
      const saved = { PGUSER: process.env.PGUSER, PGPASSWORD: process.env.PGPASSWORD };
      Object.assign(process.env, { PGUSER: worker.env.PGUSER, PGPASSWORD: worker.env.PGPASSWORD });
      try {
        const client = new pg.Client({ connectionString: config.DATABASE_URL });
        expect({ user: client.user, password: client.password, database: client.database, port: client.port }).toEqual({
          user: 'lease_costs',
          password: worker.env.PGPASSWORD,
          database: 'lease_costs',
          port: 5432,
        });
        expect(client.host).toMatch(/\.rds\.amazonaws\.com$/);
      } finally {
        for (const [k, v] of Object.entries(saved))
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
      }
      const webhook = loadConfig(tasks.find((t) => t.command[0] === 'webhook')!.env, [...COMMAND_ROLES.webhook]);
      expect(webhook.WEBHOOK_TRUST_PROXY).toEqual([VPC_CIDR]);
      expect(resourcesOf(hub, 'AWS::EC2::VPC').map(([, vpc]) => vpc.CidrBlock)).toEqual([VPC_CIDR]);
    });
  });
}

import { formatAmount, Money } from '../../src/domain/money';
import { randomUUID } from 'node:crypto';
import type { LeaseTerminatedEvent, TerminationReason } from '../../src/domain/schemas';
import type { FakeCostItem } from './cost-explorer';

/**
 * One reason of each type the ISB defines, with the values its own code gives them
 * (aws-solutions/innovation-sandbox-on-aws, source/common/events/lease-terminated-event.ts,
 * getLeaseTerminatedReason: the lease's duration, its maxSpend and totalCostAccrued, fixed comments).
 */
export const SAMPLE_TERMINATION_REASONS = {
  Expired: { type: 'Expired', leaseDurationInHours: 24 },
  BudgetExceeded: { type: 'BudgetExceeded', budget: 50, totalSpend: 50.37 },
  ManuallyTerminated: { type: 'ManuallyTerminated', comment: 'Terminated by admin' },
  AccountQuarantined: { type: 'AccountQuarantined', comment: 'Account quarantined by admin' },
  Ejected: { type: 'Ejected', comment: 'Account ejected by admin' },
  ProvisioningFailed: { type: 'ProvisioningFailed', comment: 'Blueprint deployment failed' },
} as const satisfies { [T in TerminationReason['type']]: Extract<TerminationReason, { type: T }> };

/**
 * A LeaseTerminated envelope as the ISB emits it (source `InnovationSandbox-<ISB_NAMESPACE>`,
 * source/common/isb-services/index.ts), shaped like the contract's data/lease-terminated.json.
 */
export function sampleLeaseTerminatedEvent(
  opts: {
    uuid?: string;
    userEmail?: string;
    accountId?: string;
    time?: string;
    reason?: TerminationReason;
    source?: string;
  } = {},
): LeaseTerminatedEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'LeaseTerminated',
    source: opts.source ?? 'InnovationSandbox-ndx',
    account: '111122223333',
    time: opts.time ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    region: 'eu-west-2',
    resources: [],
    detail: {
      leaseId: { userEmail: opts.userEmail ?? 'ada.lovelace@example.gov.uk', uuid: opts.uuid ?? randomUUID() },
      accountId: opts.accountId ?? '123456789012',
      reason: opts.reason ?? SAMPLE_TERMINATION_REASONS.Expired,
    },
  };
}

const SERVICES = [
  ['Amazon Elastic Compute Cloud - Compute', 'ec2', 'instance/i-'],
  ['Amazon Simple Storage Service', 's3', ''],
  ['Amazon Relational Database Service', 'rds', 'db:'],
  ['AWS Lambda', 'lambda', 'function:'],
  ['Amazon DynamoDB', 'dynamodb', 'table/'],
  ['Amazon CloudWatch', 'logs', 'log-group:/aws/'],
  ['Amazon Virtual Private Cloud', 'ec2', 'natgateway/nat-'],
  ['AWS Key Management Service', 'kms', 'key/'],
  ['Amazon Elastic Container Service', 'ecs', 'service/'],
  ['Amazon SageMaker', 'sagemaker', 'notebook-instance/'],
] as const;
const REGIONS = ['eu-west-2', 'eu-west-1', 'us-east-1'];
/** A Savings Plan's price over the on-demand one, for the instance hours it covers. */
const SAVINGS_PLAN_RATE = '0.72';
/** Where Cost Explorer puts a Savings Plan's own fee: a service of its own, no resource. */
const SAVINGS_PLAN_SERVICE = 'Savings Plans for AWS Compute usage';

/** Small deterministic PRNG so sample data is the same on every machine. */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Realistic daily costs for one account: `services` services, `resources` resources spread over
 * them, amounts with up to 10 decimals, and records a Usage report leaves out: instance hours a
 * Savings Plan covers (with their negations and the plan's fee) and a few credits.
 */
export function sampleCosts(args: {
  accountId: string;
  start: string;
  end: string;
  services: number;
  resources: number;
  seed?: number;
}): FakeCostItem[] {
  const rand = mulberry32(args.seed ?? 42);
  const items: FakeCostItem[] = [];
  const resources = Array.from({ length: args.resources }, (_, i) => {
    const [service, prefix, kind] = SERVICES[i % Math.min(args.services, SERVICES.length)]!;
    const svc =
      args.services > SERVICES.length
        ? `${service} ${Math.floor(i / SERVICES.length) % Math.ceil(args.services / SERVICES.length) || ''}`.trim()
        : service;
    const region = REGIONS[i % REGIONS.length]!;
    const id =
      prefix === 's3'
        ? `arn:aws:s3:::sandbox-bucket-${i}`
        : `arn:aws:${prefix}:${region}:${args.accountId}:${kind}${((i * 2654435761) >>> 0).toString(16)}`;
    return { service: svc, region, id, scale: rand() < 0.1 ? 10 : rand() < 0.5 ? 1 : 0.01 };
  });
  for (
    let d = new Date(`${args.start}T00:00:00Z`);
    d < new Date(`${args.end}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + 1)
  ) {
    const date = d.toISOString().slice(0, 10);
    let planFee = new Money(0);
    for (const r of resources) {
      if (rand() < 0.2) continue; // not every resource runs every day
      const amount = (rand() * r.scale).toFixed(10).replace(/0+$/, '').replace(/\.$/, '');
      const item: FakeCostItem = {
        accountId: args.accountId,
        date,
        service: r.service,
        resourceId: r.id,
        region: r.region,
        amount: amount === '' ? '0' : amount,
      };
      items.push(item);
      // Instances also run hours a Savings Plan covers: recorded as Cost Explorer records them
      // (support/fakes/cost-explorer/store.ts, RECORD_TYPES), which a Usage-only report leaves out.
      if (r.service.startsWith(SERVICES[0]![0])) {
        const effective = new Money(item.amount).times(SAVINGS_PLAN_RATE);
        planFee = planFee.plus(effective);
        items.push({ ...item, recordType: 'SavingsPlanCoveredUsage', amortizedAmount: formatAmount(effective) });
        items.push({
          ...item,
          recordType: 'SavingsPlanNegation',
          amount: formatAmount(new Money(item.amount).negated()),
        });
      }
    }
    // The plan's fee for the day, all of it used: amortized, an unused part of zero.
    if (!planFee.isZero()) {
      items.push({
        accountId: args.accountId,
        date,
        service: SAVINGS_PLAN_SERVICE,
        resourceId: 'NoResourceId',
        region: 'global',
        amount: formatAmount(planFee),
        amortizedAmount: '0',
        recordType: 'SavingsPlanRecurringFee',
      });
    }
    if (rand() < 0.3)
      items.push({
        accountId: args.accountId,
        date,
        service: SERVICES[0]![0],
        resourceId: 'NoResourceId',
        region: 'eu-west-2',
        amount: '-0.42',
        recordType: 'Credit',
      });
  }
  items.push({
    accountId: args.accountId,
    date: args.start,
    service: 'AWS Support (Business)',
    resourceId: 'NoResourceId',
    region: 'global',
    amount: '-1.25',
  });
  return items;
}

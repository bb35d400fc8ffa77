import { describe, expect, it } from 'vitest';
import { type LeaseCostsInput, LeaseTerminatedEvent, LeaseUuid } from '../../src/domain/schemas';
import { leaseStartOptions, workflowIdFor } from '../../src/infrastructure/client';
import { reportKey } from '../../src/domain/collection';
import { leaseTerminatedEvent } from '../../support/events';

const lower = '6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f';
const upper = lower.toUpperCase();

describe('the canonical lease uuid', () => {
  it('is lower case whatever case arrives', () => {
    expect(LeaseUuid.parse(upper)).toBe(lower);
    expect(LeaseTerminatedEvent.parse(leaseTerminatedEvent({ uuid: upper })).detail.leaseId.uuid).toBe(lower);
    expect(workflowIdFor(upper)).toBe(`lease-costs-${lower}`);
    expect(reportKey('r/', upper, 1)).toBe(reportKey('r/', lower, 1));
    const input: LeaseCostsInput = {
      leaseUuid: upper,
      userEmail: 'a@example.com',
      accountId: '123456789012',
      terminatedAt: '2026-01-01T00:00:00Z',
    };
    const options = leaseStartOptions(input);
    expect(options.workflowId).toBe(`lease-costs-${lower}`);
    expect(options.args[0].leaseUuid).toBe(lower);
    expect(options.typedSearchAttributes[0]!.value).toBe(lower);
    expect(options.memo.leaseUuid).toBe(lower);
  });

  it.each(['00000000-0000-0000-0000-000000000000', 'lease-1', `${lower} `, `${lower}\n`, ''])('refuses %j', (bad) => {
    expect(LeaseUuid.safeParse(bad).success).toBe(false);
    expect(() => workflowIdFor(bad)).toThrow();
  });
});

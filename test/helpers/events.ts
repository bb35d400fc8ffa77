import { randomUUID } from 'node:crypto';
import type { LeaseTerminatedEvent } from '../../src/domain/schemas';

/** An EventBridge envelope of LeaseTerminated, shaped like ../shared/data/lease-terminated.json. */
export function leaseTerminatedEvent(opts: { uuid?: string; accountId?: string; userEmail?: string; time?: string } = {}): LeaseTerminatedEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'LeaseTerminated',
    source: 'isb',
    account: '111122223333',
    time: opts.time ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    region: 'us-west-2',
    resources: [],
    detail: {
      leaseId: { userEmail: opts.userEmail ?? 'ada.lovelace@example.gov.uk', uuid: opts.uuid ?? randomUUID() },
      accountId: opts.accountId ?? '123456789012',
      reason: { type: 'Expired' },
    },
  };
}

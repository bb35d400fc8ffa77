import { z } from 'zod';
import { SAMPLE_TERMINATION_REASONS, sampleLeaseTerminatedEvent } from './fakes/sample-data';
import { EVENT_DETAIL_TYPE, LeaseCostsReportPublishedDetail, REPORT_PUBLISHED_DETAIL_TYPE } from '../src/domain/events';
import type { LeaseTerminatedEvent, TerminationReason } from '../src/domain/schemas';

/** An EventBridge envelope of LeaseTerminated as the ISB emits it (../shared/data/lease-terminated.json). */
export function leaseTerminatedEvent(
  opts: Parameters<typeof sampleLeaseTerminatedEvent>[0] = {},
): LeaseTerminatedEvent {
  return sampleLeaseTerminatedEvent(opts);
}

/** Every reason shape the ISB's LeaseTerminatedReasonSchema allows, optional fields present and absent. */
export const ISB_TERMINATION_REASONS: readonly TerminationReason[] = [
  ...Object.values(SAMPLE_TERMINATION_REASONS),
  { type: 'BudgetExceeded', totalSpend: 12.5 },
  { type: 'ManuallyTerminated', comment: '' },
];

/**
 * What the one known consumer of LeaseCostsGenerated accepts, and nothing else: the NDX
 * notification service's LeaseCostsGeneratedDetailSchema (co-cddo/ndx,
 * infra/lib/lambda/notification/validation.ts at 8e9700d; zod 4 there too), with its UuidSchema,
 * EmailSchema and AccountIdSchema. `.strict()`: any other field is a permanent error, and the
 * event goes to its dead-letter queue.
 */
const NdxUuid = z
  .string()
  .regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i,
    'Invalid UUID format - must be valid UUID v4',
  )
  .refine((val) => !val.includes('?') && !val.includes('/') && !val.includes(';'), 'UUID contains invalid characters');
const NdxEmail = z
  .string()
  .email('Invalid email format')
  .refine((val) => !val.includes('++'), 'Email contains ++')
  .refine((val) => !val.match(/\.{2,}/), 'Email contains consecutive dots')
  .refine((val) => val.length <= 254, 'Email exceeds maximum length (254 characters)');
export const NdxLeaseCostsGeneratedDetail = z
  .object({
    leaseId: NdxUuid,
    userEmail: NdxEmail,
    accountId: z.string().regex(/^[0-9]{12}$/, 'Invalid AWS account ID - must be exactly 12 digits'),
    totalCost: z.number(),
    currency: z.literal('USD'),
    startDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'startDate must be YYYY-MM-DD format'),
    endDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'endDate must be YYYY-MM-DD format'),
    csvUrl: z.string().url('csvUrl must be a valid URL'),
    urlExpiresAt: z.string().datetime({ message: 'urlExpiresAt must be ISO 8601 format' }),
  })
  .strict();

/**
 * The contract check every captured event passes (createEventCapture runs it on each delivery):
 * LeaseCostsGenerated exactly as NDX accepts it, LeaseCostsReportPublished exactly as documented.
 * Throws with the event and every problem; other detail-types pass through.
 */
export function checkEventContract(event: { 'detail-type': string; source: string; detail: unknown }): void {
  const schema =
    event['detail-type'] === EVENT_DETAIL_TYPE
      ? NdxLeaseCostsGeneratedDetail
      : event['detail-type'] === REPORT_PUBLISHED_DETAIL_TYPE
        ? LeaseCostsReportPublishedDetail
        : undefined;
  if (!schema) return;
  const parsed = schema.safeParse(event.detail);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(detail)'}: ${i.message}`).join('; ');
    throw new Error(`${event['detail-type']} breaks its contract: ${problems}\n${JSON.stringify(event.detail)}`);
  }
}

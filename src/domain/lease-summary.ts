import { z } from 'zod';
import { DateRange, DecimalString, IsoDate } from './schemas';

// What one published report adds up to, beside its CSV: what the chart draws and the ledger
// records. Written once per (lease, version) as JSON in S3 (see summaryKey); it never travels in
// workflow history, whose payloads stay small at any report size.

/** Resources the chart lists by cost. */
export const SUMMARY_TOP_RESOURCES = 10;

export const DailyCost = z.object({ date: IsoDate, service: z.string(), region: z.string(), cost: DecimalString });
export type DailyCost = z.infer<typeof DailyCost>;

export const LeaseSummary = z.object({
  leaseUuid: z.string(),
  version: z.number().int().min(1),
  currency: z.literal('USD'),
  /** The CSV's exact total. */
  total: DecimalString,
  /** Cost per service and region over the report, largest first (ties by name). */
  byService: z.array(z.object({ service: z.string(), cost: DecimalString })),
  byRegion: z.array(z.object({ region: z.string(), cost: DecimalString })),
  /** Cost per day, service and region over the whole billing window, sorted by date, service, region. */
  daily: z.array(DailyCost),
  /** The costliest resource lines of the CSV, at most SUMMARY_TOP_RESOURCES. */
  topResources: z.array(z.object({ resourceName: z.string(), service: z.string(), region: z.string(), cost: DecimalString })),
  billingWindow: DateRange.optional(),
});
export type LeaseSummary = z.infer<typeof LeaseSummary>;

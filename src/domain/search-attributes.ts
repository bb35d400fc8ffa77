import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Shared by workflow code (upserts), the client (starts, visibility queries) and `lease-costs dev`
// (registration), so the names live in one place.
export const LeaseUuidKey = defineSearchAttributeKey('LeaseUuid', SearchAttributeType.KEYWORD);
export const AwsAccountIdKey = defineSearchAttributeKey('AwsAccountId', SearchAttributeType.KEYWORD);
export const LeasePhaseKey = defineSearchAttributeKey('LeasePhase', SearchAttributeType.KEYWORD);
export const LeaseTotalCostKey = defineSearchAttributeKey('LeaseTotalCost', SearchAttributeType.DOUBLE);

/** Name → CLI type, as `temporal server start-dev --search-attribute` and `operator search-attribute create` take them. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Double'> = {
  LeaseUuid: 'Keyword',
  AwsAccountId: 'Keyword',
  LeasePhase: 'Keyword',
  LeaseTotalCost: 'Double',
};

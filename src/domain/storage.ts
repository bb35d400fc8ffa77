/**
 * Staged Cost Explorer pages carry this tag: their keys (`<prefix><uuid>/staging/…`) share no
 * prefix a lifecycle rule could match, so the bucket's rule expiring them filters on the tag.
 */
export const STAGING_OBJECT_TAG = { key: 'lease-costs-object', value: 'staging' } as const;

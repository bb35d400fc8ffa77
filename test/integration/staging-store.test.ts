import { randomBytes, randomUUID } from 'node:crypto';
import { GetObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, expect, inject, it } from 'vitest';
import { createStagingStore } from '../../activities/staging-store';
import { stagingPrefix } from '../../src/domain/collection';
import { STAGING_OBJECT_TAG } from '../../src/domain/storage';
import { clientConfig, createBucket } from '../../support/aws';

const s3 = new S3Client(clientConfig(inject('motoEndpoint')));
afterAll(() => s3.destroy());

it('tags every staged page, which is what the bucket lifecycle rule expires them by', async () => {
  const bucket = `lease-costs-staging-${randomBytes(4).toString('hex')}`;
  await createBucket(inject('motoEndpoint'), bucket);
  const key = `${stagingPrefix('reports/', randomUUID(), 1)}usage-2026-01-01-2026-01-02/000000.json`;
  const rows = [{ resourceName: 'fn', service: 'AWS Lambda', region: 'eu-west-2', cost: '0.0000000007' }];
  const staging = createStagingStore(s3, bucket);
  await staging.putPart(key, rows);
  const { TagSet } = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  expect(TagSet).toEqual([{ Key: STAGING_OBJECT_TAG.key, Value: STAGING_OBJECT_TAG.value }]);
  expect(await staging.getPart(key)).toEqual(rows);
});

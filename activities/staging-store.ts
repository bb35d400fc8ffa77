import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { CostRow } from '../src/domain/schemas';
import { STAGING_OBJECT_TAG } from '../src/domain/storage';

/** Where staged pages go: S3 for the worker, memory for the `report` command. */
export interface StagingStore {
  putPart(key: string, rows: CostRow[]): Promise<void>;
  getPart(key: string): Promise<CostRow[]>;
}

const STAGING_TAGGING = new URLSearchParams([[STAGING_OBJECT_TAG.key, STAGING_OBJECT_TAG.value]]).toString();

/** Cost rows travel between activities through S3 so history holds only references. */
export function createStagingStore(s3: S3Client, bucket: string): StagingStore {
  return {
    async putPart(key: string, rows: CostRow[]): Promise<void> {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: JSON.stringify(rows),
          ContentType: 'application/json',
          Tagging: STAGING_TAGGING,
        }),
      );
    },
    async getPart(key: string): Promise<CostRow[]> {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return z.array(CostRow).parse(JSON.parse(await res.Body!.transformToString()));
    },
  };
}

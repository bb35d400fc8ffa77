import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { reportKey } from '../domain/collection';

/**
 * The JSON text of the summary written beside a report's CSV, or undefined when there is none.
 * Other S3 errors throw, and the activity's retry policy deals with them.
 */
export type SummaryReader = (leaseUuid: string, version: number) => Promise<{ location: string; json: string | undefined }>;

/** Reads `reportKey(prefix, uuid, version, 'summary')`: the key derives from (lease, version) alone. */
export function createSummaryReader(s3: S3Client, bucket: string, keyPrefix: string): SummaryReader {
  return async (leaseUuid, version) => {
    const key = reportKey(keyPrefix, leaseUuid, version, 'summary');
    const location = `s3://${bucket}/${key}`;
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return { location, json: await res.Body!.transformToString() };
    } catch (err) {
      if (err instanceof NoSuchKey) return { location, json: undefined };
      throw err;
    }
  };
}

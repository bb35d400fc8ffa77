import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { reportKey } from '../domain/collection';
import { LeaseSummary } from '../domain/lease-summary';

/**
 * A report's summary as writeReport left it beside the CSV, or why there is none to use: missing,
 * not JSON, malformed, or another report's. Each is bad data no retry fixes; the caller names the
 * error. Other S3 errors throw, and the activity's retry policy deals with them.
 */
export type SummaryRead = { summary: LeaseSummary } | { problem: string };
export type SummaryReader = (leaseUuid: string, version: number) => Promise<SummaryRead>;

/**
 * The one reader of `reportKey(prefix, uuid, version, 'summary')`, for the chart and the ledger: the
 * key derives from (lease, version) alone, so the summary must say it is that lease's version.
 */
export function createSummaryReader(s3: S3Client, bucket: string, keyPrefix: string): SummaryReader {
  return async (leaseUuid, version) => {
    const key = reportKey(keyPrefix, leaseUuid, version, 'summary');
    const problem = (why: string) => ({ problem: `Report summary s3://${bucket}/${key} ${why}` });
    let text: string;
    try {
      text = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
    } catch (err) {
      if (err instanceof NoSuchKey) return problem('does not exist (writeReport writes it beside the CSV)');
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return problem('is not JSON');
    }
    const parsed = LeaseSummary.safeParse(json);
    if (!parsed.success)
      return problem(
        `is malformed: ${parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')}`,
      );
    if (parsed.data.leaseUuid !== leaseUuid || parsed.data.version !== version) {
      return problem(`belongs to ${parsed.data.leaseUuid} v${parsed.data.version}, not ${leaseUuid} v${version}`);
    }
    return { summary: parsed.data };
  };
}

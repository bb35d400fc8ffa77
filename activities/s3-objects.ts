import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ApplicationFailure } from '@temporalio/activity';
import { ErrorType } from '../src/domain/errors';

/** The bucket and prefix the reports go to (S3_BUCKET_NAME, S3_KEY_PREFIX). */
export interface ReportBucket {
  s3: S3Client;
  bucket: string;
  keyPrefix: string;
}

export interface PutVerifiedOptions {
  known?: { bytes: number; checksumSha256: string };
  metadata?: Record<string, string>;
}

/**
 * One object with our SHA-256, which S3 checks on arrival; HeadObject proves what is stored. A
 * streamed body comes with its size and checksum, measured in an earlier pass over its bytes.
 * Returns the checksum (base64).
 */
export async function putVerifiedObject(
  deps: Pick<ReportBucket, 's3' | 'bucket'>,
  key: string,
  body: Buffer | (() => Readable),
  contentType: string,
  opts: PutVerifiedOptions = {},
): Promise<string> {
  const { bytes, checksumSha256 } = opts.known ?? {
    bytes: (body as Buffer).length,
    checksumSha256: createHash('sha256')
      .update(body as Buffer)
      .digest('base64'),
  };
  await deps.s3.send(
    new PutObjectCommand({
      Bucket: deps.bucket,
      Key: key,
      Body: typeof body === 'function' ? body() : body,
      ContentLength: bytes,
      ContentType: contentType,
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: checksumSha256,
      Metadata: opts.metadata,
    }),
  );
  const head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key, ChecksumMode: 'ENABLED' }));
  if (head.ChecksumSHA256 !== checksumSha256 || head.ContentLength !== bytes) {
    throw ApplicationFailure.retryable(
      `S3 object ${key} has SHA-256 ${head.ChecksumSHA256 ?? '(none)'} and ${head.ContentLength ?? '?'} bytes, expected ${checksumSha256} and ${bytes}`,
      ErrorType.ChecksumMismatch,
    );
  }
  return checksumSha256;
}

/** Presigned GETs of report objects, valid PRESIGNED_URL_EXPIRY_DAYS. */
export function createPresigner(
  deps: Pick<ReportBucket, 's3' | 'bucket'> & { urlExpiryDays: number; now?: () => Date },
) {
  return async (key: string): Promise<{ url: string; expiresAt: string }> => {
    const expiresIn = deps.urlExpiryDays * 24 * 3600;
    const signedAt = (deps.now ?? (() => new Date()))();
    const url = await getSignedUrl(deps.s3, new GetObjectCommand({ Bucket: deps.bucket, Key: key }), {
      expiresIn,
      signingDate: signedAt,
    });
    return { url, expiresAt: new Date(signedAt.getTime() + expiresIn * 1000).toISOString() };
  };
}

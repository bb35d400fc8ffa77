import { createHmac, timingSafeEqual } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Config } from './config';

/**
 * Report links that outlive role credentials: the worker hands out our own link, signed with
 * HMAC-SHA256 over (key, expiry); the webhook process checks it and redirects to an S3 URL presigned
 * on the spot for a few minutes. A presigned S3 URL only lives as long as the credentials that
 * signed it, and a task role's session is hours, not PRESIGNED_URL_EXPIRY_DAYS.
 */

export const REPORT_LINK_PATH = '/reports/';
/** How long the S3 URL behind a redirect lives: enough to start a download, useless if copied later. */
export const REPORT_REDIRECT_EXPIRY_SECONDS = 300;

const mac = (signingKey: string, key: string, expires: number) =>
  createHmac('sha256', signingKey).update(`${key}\n${expires}`).digest();

/** `/reports/<key, each segment percent-encoded>?expires=<unix s>&signature=<base64url>` under `baseUrl`. */
export function signReportLink(opts: { baseUrl: string; signingKey: string; key: string; expiresAt: Date }): string {
  const expires = Math.floor(opts.expiresAt.getTime() / 1000);
  const path = opts.key.split('/').map(encodeURIComponent).join('/');
  const signature = mac(opts.signingKey, opts.key, expires).toString('base64url');
  return `${opts.baseUrl.replace(/\/+$/, '')}${REPORT_LINK_PATH}${path}?expires=${expires}&signature=${signature}`;
}

export type LinkCheck = 'ok' | 'expired' | 'bad-signature';

/** Constant-time: how much of a forged signature matches says nothing. Expiry is checked after the MAC. */
export function verifyReportLink(opts: {
  signingKey: string;
  key: string;
  expires: string | undefined;
  signature: string | undefined;
  now?: Date;
}): LinkCheck {
  if (!opts.expires || !/^\d{1,12}$/.test(opts.expires) || !opts.signature) return 'bad-signature';
  const expires = Number(opts.expires);
  const expected = mac(opts.signingKey, opts.key, expires);
  const given = Buffer.from(opts.signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad-signature';
  return expires * 1000 > (opts.now ?? new Date()).getTime() ? 'ok' : 'expired';
}

/** The `presign` dependency of the EventBridge activity, handing out our links instead of S3 URLs. */
export function createReportLinkPresigner(opts: {
  baseUrl: string;
  signingKey: string;
  urlExpiryDays: number;
  now?: () => Date;
}): (key: string) => Promise<{ url: string; expiresAt: string }> {
  return async (key) => {
    // Whole seconds, so the expiry announced is exactly the one signed.
    const now = (opts.now ?? (() => new Date()))().getTime();
    const expiresAt = new Date(Math.floor(now / 1000) * 1000 + opts.urlExpiryDays * 24 * 3600_000);
    return { url: signReportLink({ ...opts, key, expiresAt }), expiresAt: expiresAt.toISOString() };
  };
}

/** Our links when REPORT_LINK_BASE_URL and REPORT_LINK_SIGNING_KEY are set (config checks they come together). */
export function reportLinkPresignerFor(
  config: Config,
): ((key: string) => Promise<{ url: string; expiresAt: string }>) | undefined {
  if (!config.REPORT_LINK_BASE_URL || !config.REPORT_LINK_SIGNING_KEY) return undefined;
  return createReportLinkPresigner({
    baseUrl: config.REPORT_LINK_BASE_URL,
    signingKey: config.REPORT_LINK_SIGNING_KEY,
    urlExpiryDays: config.PRESIGNED_URL_EXPIRY_DAYS,
  });
}

/** A short-lived presigned GET for the redirect behind a verified link. */
export function shortPresignedGet(s3: S3Client, bucket: string): (key: string) => Promise<string> {
  return (key) =>
    getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: REPORT_REDIRECT_EXPIRY_SECONDS });
}

import type { FastifyInstance } from 'fastify';
import { s3Client } from '../infrastructure/aws';
import type { Config } from '../infrastructure/config';
import { REPORT_LINK_PATH, shortPresignedGet, verifyReportLink } from '../infrastructure/report-link-signing';

export interface ReportLinkDeps {
  signingKey: string;
  /** Only keys under the report prefix are ever served, whatever was signed. */
  keyPrefix: string;
  presignGet: (key: string) => Promise<string>;
  now?: () => Date;
}

/** The report-link deps of the webhook process, or undefined when links are not configured. */
export function reportLinkDepsFor(config: Config): ReportLinkDeps | undefined {
  if (!config.REPORT_LINK_SIGNING_KEY || !config.S3_BUCKET_NAME) return undefined;
  return {
    signingKey: config.REPORT_LINK_SIGNING_KEY,
    keyPrefix: config.S3_KEY_PREFIX,
    presignGet: shortPresignedGet(s3Client(), config.S3_BUCKET_NAME),
  };
}

/** `/reports/a%20b/c.csv` → `a b/c.csv`; undefined when the encoding is broken. */
function keyOf(url: string): string | undefined {
  const path = url.split('?')[0]!.slice(REPORT_LINK_PATH.length);
  try {
    return path.split('/').map(decodeURIComponent).join('/');
  } catch {
    return undefined;
  }
}

/**
 * `GET /reports/<key>?expires=…&signature=…`: 302 to a presigned S3 URL that lives a few minutes,
 * or 403 before anything touches S3. The signature sits in the query, which the access log leaves out.
 */
export function registerReportLinks(app: FastifyInstance, deps: ReportLinkDeps): void {
  app.get(`${REPORT_LINK_PATH}*`, async (request, reply) => {
    const { expires, signature } = request.query as Record<string, string | undefined>;
    const key = keyOf(request.url);
    const check =
      key === undefined || !key.startsWith(deps.keyPrefix)
        ? 'bad-signature'
        : verifyReportLink({ signingKey: deps.signingKey, key, expires, signature, now: deps.now?.() });
    reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
    if (check !== 'ok') {
      return reply
        .code(403)
        .type('application/json')
        .send({ error: check === 'expired' ? 'this report link has expired' : 'invalid report link' });
    }
    return reply.redirect(await deps.presignGet(key!), 302);
  });
}

import { z } from 'zod';
import { existsSync } from 'node:fs';
import { parseEncryptionKeys } from './codec';

const intIn = (min: number, max: number, dflt: number) =>
  z.string().trim().default(String(dflt))
    .refine((s) => /^\d+$/.test(s) && Number(s) >= min && Number(s) <= max, `must be an integer ${min}..${max}`)
    .transform(Number);

const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const isLoopback = (host: string) => ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host) || /^127\./.test(host);

const httpsUrl = z.string().refine((s) => {
  // zod runs refinements even after a failed format check, so parse defensively here.
  const u = URL.canParse(s) ? new URL(s) : undefined;
  return u !== undefined && (u.protocol === 'https:' || (u.protocol === 'http:' && isLoopback(u.hostname)));
}, 'must be an https URL (http only for loopback)');

export const ConfigSchema = z.object({
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('lease-costs'),
  /** TLS to Temporal; on by default when an API key or client certificate is given. */
  TEMPORAL_TLS: optional(z.enum(['true', 'false']).transform((v) => v === 'true')),
  TEMPORAL_API_KEY: optional(z.string().min(1)),
  TEMPORAL_TLS_CERT_PATH: optional(z.string().min(1)),
  TEMPORAL_TLS_KEY_PATH: optional(z.string().min(1)),
  TEMPORAL_TLS_CA_PATH: optional(z.string().min(1)),
  BILLING_PADDING_HOURS: intIn(0, 168, 8),
  COST_EXPLORER_ROLE_ARN: optional(z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]{1,512}$/,
    'must be arn:aws:iam::<12 digits>:role/<name>')),
  /** The external id the cost-reading role's trust policy requires (confused-deputy protection). */
  COST_EXPLORER_EXTERNAL_ID: optional(z.string().regex(/^[\w+=,.@:\/-]{2,1224}$/, 'must be 2..1224 characters of letters, digits and +=,.@:/-')),
  COST_EXPLORER_MAX_RPS: z.string().trim().default('4')
    .refine((s) => /^\d+(\.\d+)?$/.test(s) && Number(s) > 0 && Number(s) <= 5, 'must be a number in (0, 5]')
    .transform(Number),
  S3_BUCKET_NAME: optional(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')),
  S3_KEY_PREFIX: z.string().default('').refine((s) => !s.startsWith('/'), 'must not start with /'),
  PRESIGNED_URL_EXPIRY_DAYS: intIn(1, 7, 7),
  EVENT_BUS_NAME: optional(z.string().regex(/^[\w.\-/]{1,256}$/, 'must be an EventBridge bus name or ARN')),
  ISB_API_BASE_URL: optional(httpsUrl),
  ISB_JWT_SECRET_PATH: optional(z.string().min(1)),
  ISB_JWT_SECRET: optional(z.string().min(16, 'must be at least 16 characters')),
  /** Where the webhook serves `/reports/…`: with a signing key, csvUrl is our signed link instead of an S3 URL. */
  REPORT_LINK_BASE_URL: optional(httpsUrl),
  REPORT_LINK_SIGNING_KEY: optional(z.string().min(32, 'must be at least 32 characters')),
  RERUN_WINDOW_DAYS: intIn(0, 365, 30),
  WEBHOOK_PORT: intIn(0, 65535, 8080),
  WEBHOOK_API_KEY: optional(z.string().min(16, 'must be at least 16 characters')),
  WEBHOOK_AUTH: z.enum(['api-key', 'none']).default('api-key'),
  WEBHOOK_HOST: z.string().min(1).default('0.0.0.0'),
  /** Requests per minute from one source address before 429; 0 turns the limit off. */
  WEBHOOK_RATE_LIMIT_PER_MINUTE: intIn(0, 1_000_000, 600),
  /** Behind a load balancer: take the source address from X-Forwarded-For. */
  WEBHOOK_TRUST_PROXY: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** `id:base64key,…`, first one encrypts: turns on payload encryption for workers and clients alike. */
  PAYLOAD_ENCRYPTION_KEYS: optional(z.string().superRefine((s, ctx) => {
    try { parseEncryptionKeys(s); } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message }); }
  })),
  CODEC_PORT: intIn(0, 65535, 8090),
  CODEC_HOST: z.string().min(1).default('127.0.0.1'),
  CODEC_CORS_ORIGINS: z.string().default('http://127.0.0.1:8233,http://localhost:8233'),
  /** host:port for the Prometheus endpoint of worker processes; empty turns metrics off. */
  METRICS_BIND_ADDRESS: z.string().default('').refine((s) => s === '' || /^[\w.\-\[\]:]+:\d{1,5}$/.test(s), 'must be host:port, or empty to disable'),
});
export type Config = z.infer<typeof ConfigSchema>;

/** What each process needs beyond the defaults: checked together so one start names every gap. */
export type Role = 'worker' | 'webhook' | 'report' | 'client' | 'codec';
const REQUIRED: Record<Role, (keyof Config)[]> = {
  worker: ['COST_EXPLORER_ROLE_ARN', 'S3_BUCKET_NAME', 'EVENT_BUS_NAME', 'ISB_API_BASE_URL'],
  webhook: [],
  report: ['COST_EXPLORER_ROLE_ARN'],
  client: [],
  codec: ['PAYLOAD_ENCRYPTION_KEYS'],
};

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv, roles: Role[]): Config {
  const parsed = ConfigSchema.safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => ({ variable: String(i.path[0]), message: i.message }));
  const cfg = parsed.success ? parsed.data : undefined;
  const value = (k: keyof Config) => (cfg ? cfg[k] : env[k]);
  for (const role of roles) {
    for (const key of REQUIRED[role]) {
      if (!value(key) && !problems.some((p) => p.variable === key)) problems.push({ variable: key, message: 'is required' });
    }
    if (role === 'worker' && !value('ISB_JWT_SECRET_PATH') && !value('ISB_JWT_SECRET')) {
      problems.push({ variable: 'ISB_JWT_SECRET_PATH', message: 'or ISB_JWT_SECRET is required' });
    }
    if (role === 'webhook' && value('WEBHOOK_AUTH') !== 'none' && !value('WEBHOOK_API_KEY') && !problems.some((p) => p.variable === 'WEBHOOK_API_KEY')) {
      problems.push({ variable: 'WEBHOOK_API_KEY', message: 'is required unless WEBHOOK_AUTH=none' });
    }
  }
  // The worker signs links with both; the webhook verifies them and needs the bucket to redirect into.
  const linkBase = value('REPORT_LINK_BASE_URL');
  const linkKey = value('REPORT_LINK_SIGNING_KEY');
  if (Boolean(linkBase) !== Boolean(linkKey) && roles.includes('worker')) {
    problems.push({ variable: linkBase ? 'REPORT_LINK_SIGNING_KEY' : 'REPORT_LINK_BASE_URL', message: 'is required with the other report-link setting' });
  }
  if (linkKey && roles.includes('webhook') && !value('S3_BUCKET_NAME') && !problems.some((p) => p.variable === 'S3_BUCKET_NAME')) {
    problems.push({ variable: 'S3_BUCKET_NAME', message: 'is required to serve report links (REPORT_LINK_SIGNING_KEY is set)' });
  }
  const certPath = value('TEMPORAL_TLS_CERT_PATH');
  const keyPath = value('TEMPORAL_TLS_KEY_PATH');
  if (Boolean(certPath) !== Boolean(keyPath)) {
    problems.push({ variable: certPath ? 'TEMPORAL_TLS_KEY_PATH' : 'TEMPORAL_TLS_CERT_PATH', message: 'is required with the other half of the client certificate pair' });
  }
  for (const key of ['TEMPORAL_TLS_CERT_PATH', 'TEMPORAL_TLS_KEY_PATH', 'TEMPORAL_TLS_CA_PATH'] as const) {
    const path = value(key);
    if (typeof path === 'string' && !existsSync(path)) problems.push({ variable: key, message: `no such file: ${path}` });
  }
  if (problems.length > 0 || !cfg) throw new ConfigError(problems);
  return cfg;
}

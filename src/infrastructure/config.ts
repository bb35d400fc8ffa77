import { z } from 'zod';
import { isIP } from 'node:net';
import { COST_SCOPES, DEFAULT_COST_SCOPE } from '../domain/cost-scope';
import {
  DEFAULT_ISB_JWT_USER_EMAIL,
  DEFAULT_MAX_EVENT_AGE_DAYS,
  DEFAULT_PADDING_HOURS,
  DEFAULT_RERUN_WINDOW_DAYS,
  MAX_PADDING_HOURS,
} from '../domain/defaults';
import { parseEncryptionKeys } from './codec';
import { ConfigError } from './config-error';
import { loadTemporalProfile, TemporalAddress, type TemporalConnection } from './temporal-connection';

const intIn = (min: number, max: number, dflt: number) =>
  z
    .string()
    .trim()
    .default(String(dflt))
    .refine((s) => /^\d+$/.test(s) && Number(s) >= min && Number(s) <= max, `must be an integer ${min}..${max}`)
    .transform(Number);

const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/** Decided on the parsed address: `127.attacker.example` is a name anyone can point anywhere. */
export const isLoopbackHost = (host: string) => {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return isIP(h) === 6 && /^(0{0,4}:){2,7}0{0,3}1$/.test(h);
};

/**
 * The load balancers' own addresses (IPs, CIDRs, or proxy-addr's `loopback`, `linklocal`,
 * `uniquelocal`). Only hops from these are believed, so a client can neither pick its source by
 * writing X-Forwarded-For nor bypass the balancer with one. (Fastify 5.12 refuses hop counts for
 * the same reason: they cannot tell a proxy from a direct client.)
 */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
const TrustProxy = z
  .string()
  .trim()
  .default('')
  .transform((s, ctx) => {
    if (s === '' || s === 'false') return [];
    const addrs = s.split(',').map((a) => a.trim());
    const valid = (a: string) => {
      const [ip, bits, extra] = a.split('/');
      return (
        PROXY_RANGE_NAMES.includes(a) ||
        (extra === undefined && isIP(ip ?? '') !== 0 && (bits === undefined || /^\d{1,3}$/.test(bits)))
      );
    };
    if (addrs.every(valid)) return addrs;
    ctx.addIssue({
      code: 'custom',
      message:
        s === 'true'
          ? '"true" trusted the left-most X-Forwarded-For entry, which the client chooses: list the load balancers\' addresses or CIDRs instead'
          : 'must be a comma-separated list of proxy IP addresses or CIDRs (or loopback, linklocal, uniquelocal)',
    });
    return z.NEVER;
  });

const httpsUrl = z.string().refine((s) => {
  // zod runs refinements even after a failed format check, so parse defensively here.
  const u = URL.canParse(s) ? new URL(s) : undefined;
  return u !== undefined && (u.protocol === 'https:' || (u.protocol === 'http:' && isLoopbackHost(u.hostname)));
}, 'must be an https URL (http only for a loopback address or localhost)');

export const ConfigSchema = z.object({
  /** Defaults when neither the environment nor a Temporal profile gives them (see temporal-connection). */
  TEMPORAL_ADDRESS: TemporalAddress.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('lease-costs'),
  /**
   * Worker Versioning (docs/upgrade.md): the worker's Deployment, and its build's id. With a build id
   * each workflow stays on the build that started it; without one the worker is unversioned.
   * Conservative characters: the server's version strings join the two with `:` (older ones with `.`).
   */
  TEMPORAL_DEPLOYMENT_NAME: z
    .string()
    .trim()
    .default('lease-costs')
    .refine((s) => /^[A-Za-z0-9_-]{1,100}$/.test(s), 'must be 1..100 letters, digits, _ or -'),
  TEMPORAL_WORKER_BUILD_ID: optional(
    z
      .string()
      .trim()
      .regex(
        /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/,
        'must be 1..100 letters, digits, _, - or . (not starting with . or -), e.g. the image tag or git commit',
      ),
  ),
  BILLING_PADDING_HOURS: intIn(0, MAX_PADDING_HOURS, DEFAULT_PADDING_HOURS),
  COST_EXPLORER_ROLE_ARN: optional(
    z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]{1,512}$/, 'must be arn:aws:iam::<12 digits>:role/<name>'),
  ),
  /** The external id the cost-reading role's trust policy requires (confused-deputy protection). */
  COST_EXPLORER_EXTERNAL_ID: optional(
    z.string().regex(/^[\w+=,.@:\/-]{2,1224}$/, 'must be 2..1224 characters of letters, digits and +=,.@:/-'),
  ),
  COST_EXPLORER_MAX_RPS: z
    .string()
    .trim()
    .default('4')
    .refine((s) => /^\d+(\.\d+)?$/.test(s) && Number(s) > 0 && Number(s) <= 5, 'must be a number in (0, 5]')
    .transform(Number),
  /** Which Cost Explorer record types a report counts (src/domain/cost-scope.ts). */
  COST_SCOPE: z
    .string()
    .trim()
    .default(DEFAULT_COST_SCOPE)
    .pipe(z.enum(COST_SCOPES, { error: `must be ${COST_SCOPES.join(' or ')}` })),
  S3_BUCKET_NAME: optional(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')),
  S3_KEY_PREFIX: z
    .string()
    .default('')
    .refine((s) => !s.startsWith('/'), 'must not start with /')
    .refine((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s), 'must not contain NUL or other control characters')
    .refine((s) => !s.split('/').some((seg) => seg === '..' || seg === '.'), 'must not contain . or .. path segments'),
  PRESIGNED_URL_EXPIRY_DAYS: intIn(1, 7, 7),
  /** Also write each report in FinOps FOCUS columns, beside the CSV. */
  REPORT_FOCUS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  EVENT_BUS_NAME: optional(z.string().regex(/^[\w.\-/]{1,256}$/, 'must be an EventBridge bus name or ARN')),
  ISB_API_BASE_URL: optional(httpsUrl),
  ISB_JWT_SECRET_PATH: optional(z.string().min(1)),
  ISB_JWT_SECRET: optional(z.string().min(16, 'must be at least 16 characters')),
  /** The `user.email` of our ISB API tokens: the ISB refuses any token whose address fails zod's e-mail check. */
  ISB_JWT_USER_EMAIL: z
    .string()
    .trim()
    .default(DEFAULT_ISB_JWT_USER_EMAIL)
    .pipe(z.email("must be an e-mail address (the ISB API checks it with zod's email())")),
  /** Where the webhook serves `/reports/…`: with a signing key, csvUrl is our signed link instead of an S3 URL. */
  REPORT_LINK_BASE_URL: optional(httpsUrl),
  REPORT_LINK_SIGNING_KEY: optional(z.string().min(32, 'must be at least 32 characters')),
  RERUN_WINDOW_DAYS: intIn(0, 365, DEFAULT_RERUN_WINDOW_DAYS),
  /** Base URL of Temporal UI, for the link in LeaseCostsFailed. */
  TEMPORAL_UI_URL: optional(
    z.string().refine((s) => /^https?:$/.test(URL.canParse(s) ? new URL(s).protocol : ''), 'must be an http(s) URL'),
  ),
  /** How often the `lease-costs-reconcile` schedule runs, and how far back it looks for ended leases. */
  RECONCILE_INTERVAL_MINUTES: intIn(1, 10_080, 60),
  RECONCILE_LOOKBACK_DAYS: intIn(1, 365, 14),
  /** When the `lease-costs-monthly` schedule writes last month's group report: day of month (UTC, 1..28 so every month has it) and hour. */
  GROUP_REPORT_DAY_OF_MONTH: intIn(1, 28, 3),
  GROUP_REPORT_HOUR_UTC: intIn(0, 23, 6),
  WEBHOOK_PORT: intIn(0, 65535, 8080),
  WEBHOOK_API_KEY: optional(z.string().min(16, 'must be at least 16 characters')),
  WEBHOOK_AUTH: z.enum(['api-key', 'none']).default('api-key'),
  WEBHOOK_HOST: z.string().min(1).default('0.0.0.0'),
  /** Requests per minute from one source address before 429; 0 turns the limit off. */
  WEBHOOK_RATE_LIMIT_PER_MINUTE: intIn(0, 1_000_000, 600),
  /** Behind load balancers: whose X-Forwarded-For to believe. */
  WEBHOOK_TRUST_PROXY: TrustProxy,
  /** Oldest event `time` the webhook accepts; a forged old time would fail the run. */
  WEBHOOK_MAX_EVENT_AGE_DAYS: intIn(1, 3650, DEFAULT_MAX_EVENT_AGE_DAYS),
  /** `id:base64key,…`, first one encrypts: turns on payload encryption for workers and clients alike. */
  PAYLOAD_ENCRYPTION_KEYS: optional(
    z.string().superRefine((s, ctx) => {
      try {
        parseEncryptionKeys(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }),
  ),
  /** With encryption on: refuse payloads that are not ours instead of reading them as plaintext. */
  PAYLOAD_REQUIRE_ENCRYPTION: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  CODEC_PORT: intIn(0, 65535, 8090),
  CODEC_HOST: z.string().min(1).default('127.0.0.1'),
  CODEC_CORS_ORIGINS: z.string().default('http://127.0.0.1:8233,http://localhost:8233'),
  /** Bearer token the codec endpoint requires; needed unless it listens on loopback only. */
  CODEC_AUTH_TOKEN: optional(z.string().min(32, 'must be at least 32 characters')),
  /** Host header names the codec endpoint answers to: a DNS-rebound name gets 421. */
  CODEC_ALLOWED_HOSTS: z.string().default('127.0.0.1,localhost,[::1]'),
  /**
   * `token`: CODEC_AUTH_TOKEN, when set (required off loopback). `oidc`: the access token Temporal UI
   * forwards, verified against the identity provider's JWKS, issuer and audience. `none`: no token
   * off loopback, only where the port is published on loopback (compose), since the UI without
   * OIDC cannot send one.
   */
  CODEC_AUTH: z.enum(['token', 'oidc', 'none']).default('token'),
  CODEC_OIDC_JWKS_URL: optional(httpsUrl),
  CODEC_OIDC_ISSUER: optional(z.string().min(1)),
  CODEC_OIDC_AUDIENCE: optional(z.string().min(1)),
  /** host:port for the Prometheus endpoint of worker processes; empty turns metrics off. */
  LOG_LEVEL: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? v.trim().toLowerCase() : undefined),
    z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  ),
  /** `json` or `pretty`; unset: pretty when stdout is a terminal, JSON lines otherwise. */
  LOG_FORMAT: optional(z.enum(['json', 'pretty'])),
  /** The ledger's PostgreSQL (`postgres://user:password@host:5432/db`); `dev` and `demo` serve an embedded one. */
  DATABASE_URL: optional(
    z
      .string()
      .refine(
        (s) => URL.canParse(s) && /^postgres(ql)?:$/.test(new URL(s).protocol),
        'must be a postgres:// or postgresql:// URL',
      ),
  ),
  /** `false`: the worker records nothing in the ledger and needs no DATABASE_URL. */
  LEDGER_ENABLED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  METRICS_BIND_ADDRESS: z
    .string()
    .default('')
    .refine((s) => s === '' || /^[\w.\-\[\]:]+:\d{1,5}$/.test(s), 'must be host:port, or empty to disable'),
});
/**
 * The environment's settings, plus the Temporal connection the SDK's environment configuration
 * resolved (TLS, API key, gRPC metadata; `address` only when the environment or a profile set one).
 */
export type Settings = z.infer<typeof ConfigSchema>;
export type Config = Settings & { temporalConnection: TemporalConnection };

/** What each process needs beyond the defaults: checked together so one start names every gap. */
export type Role = 'worker' | 'webhook' | 'report' | 'client' | 'codec' | 'isb' | 'ledger';
const REQUIRED: Record<Role, (keyof Settings)[]> = {
  worker: ['COST_EXPLORER_ROLE_ARN', 'S3_BUCKET_NAME', 'EVENT_BUS_NAME', 'ISB_API_BASE_URL'],
  webhook: [],
  report: ['COST_EXPLORER_ROLE_ARN'],
  client: [],
  codec: ['PAYLOAD_ENCRYPTION_KEYS'],
  /** Processes that list leases themselves (backfill). */
  isb: ['ISB_API_BASE_URL'],
  /** Processes that read the ledger (`costs`). */
  ledger: ['DATABASE_URL'],
};

export { ConfigError };

export function loadConfig(env: NodeJS.ProcessEnv, roles: Role[]): Config {
  const parsed = ConfigSchema.safeParse(env);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((i) => ({ variable: String(i.path[0]), message: i.message }));
  const cfg = parsed.success ? parsed.data : undefined;
  const value = (k: keyof Settings) => (cfg ? cfg[k] : env[k]);
  for (const role of roles) {
    for (const key of REQUIRED[role]) {
      if (!value(key) && !problems.some((p) => p.variable === key))
        problems.push({ variable: key, message: 'is required' });
    }
    if (
      (role === 'worker' || role === 'isb') &&
      !value('ISB_JWT_SECRET_PATH') &&
      !value('ISB_JWT_SECRET') &&
      !problems.some((p) => p.variable === 'ISB_JWT_SECRET_PATH')
    ) {
      problems.push({ variable: 'ISB_JWT_SECRET_PATH', message: 'or ISB_JWT_SECRET is required' });
    }
    if (
      role === 'worker' &&
      value('LEDGER_ENABLED') !== false &&
      value('LEDGER_ENABLED') !== 'false' &&
      !value('DATABASE_URL') &&
      !problems.some((p) => p.variable === 'DATABASE_URL')
    ) {
      problems.push({
        variable: 'DATABASE_URL',
        message: 'is required for the cost ledger (or LEDGER_ENABLED=false to run without one)',
      });
    }
    if (
      role === 'webhook' &&
      value('WEBHOOK_AUTH') !== 'none' &&
      !value('WEBHOOK_API_KEY') &&
      !problems.some((p) => p.variable === 'WEBHOOK_API_KEY')
    ) {
      problems.push({ variable: 'WEBHOOK_API_KEY', message: 'is required unless WEBHOOK_AUTH=none' });
    }
    if (
      role === 'webhook' &&
      value('WEBHOOK_AUTH') === 'none' &&
      !isLoopbackHost(String(value('WEBHOOK_HOST') ?? '0.0.0.0'))
    ) {
      problems.push({
        variable: 'WEBHOOK_AUTH',
        message: `none is allowed only with a loopback WEBHOOK_HOST (127.0.0.1, ::1, localhost): anyone reaching ${String(value('WEBHOOK_HOST') ?? '0.0.0.0')} could start runs`,
      });
    }
    if (role === 'codec' && value('CODEC_AUTH') === 'oidc') {
      for (const key of ['CODEC_OIDC_JWKS_URL', 'CODEC_OIDC_ISSUER'] as const) {
        if (!value(key) && !problems.some((p) => p.variable === key))
          problems.push({ variable: key, message: 'is required with CODEC_AUTH=oidc' });
      }
    }
    if (
      role === 'codec' &&
      (value('CODEC_AUTH') ?? 'token') === 'token' &&
      !value('CODEC_AUTH_TOKEN') &&
      !isLoopbackHost(String(value('CODEC_HOST') ?? '127.0.0.1')) &&
      !problems.some((p) => p.variable === 'CODEC_AUTH_TOKEN')
    ) {
      problems.push({
        variable: 'CODEC_AUTH_TOKEN',
        message:
          'is required when CODEC_HOST is not a loopback address (or CODEC_AUTH=oidc, or CODEC_AUTH=none where the port is published on loopback only): the endpoint decrypts for whoever calls it',
      });
    }
  }
  if (
    value('PAYLOAD_REQUIRE_ENCRYPTION') === true &&
    !value('PAYLOAD_ENCRYPTION_KEYS') &&
    !problems.some((p) => p.variable === 'PAYLOAD_ENCRYPTION_KEYS')
  ) {
    problems.push({ variable: 'PAYLOAD_REQUIRE_ENCRYPTION', message: 'needs PAYLOAD_ENCRYPTION_KEYS' });
  }
  // The worker signs links with both; the webhook verifies them and needs the bucket to redirect into.
  const linkBase = value('REPORT_LINK_BASE_URL');
  const linkKey = value('REPORT_LINK_SIGNING_KEY');
  if (Boolean(linkBase) !== Boolean(linkKey) && roles.includes('worker')) {
    problems.push({
      variable: linkBase ? 'REPORT_LINK_SIGNING_KEY' : 'REPORT_LINK_BASE_URL',
      message: 'is required with the other report-link setting',
    });
  }
  if (
    linkKey &&
    roles.includes('webhook') &&
    !value('S3_BUCKET_NAME') &&
    !problems.some((p) => p.variable === 'S3_BUCKET_NAME')
  ) {
    problems.push({
      variable: 'S3_BUCKET_NAME',
      message: 'is required to serve report links (REPORT_LINK_SIGNING_KEY is set)',
    });
  }
  const temporal = loadTemporalProfile(env);
  if (!temporal.ok) problems.push({ variable: temporal.variable, message: temporal.message });
  if (problems.length > 0 || !cfg || !temporal.ok) throw new ConfigError(problems);
  return {
    ...cfg,
    // The environment wins over the profile inside envconfig; our defaults apply to neither.
    TEMPORAL_ADDRESS: temporal.connection.address ?? cfg.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: temporal.namespace ?? cfg.TEMPORAL_NAMESPACE,
    temporalConnection: temporal.connection,
  };
}

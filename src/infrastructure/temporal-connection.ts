import { existsSync } from 'node:fs';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';

/**
 * Address, TLS, API key and gRPC metadata for Temporal, as the SDK's environment configuration
 * resolves them: a profile (TEMPORAL_PROFILE, default `default`) of the TOML file at
 * TEMPORAL_CONFIG_FILE or ~/.config/temporalio/temporal.toml, overridden by TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_GRPC_META_*. The same settings the
 * `temporal` CLI reads, so one profile serves both.
 */
export type TemporalConnection = ClientConnectConfig['connectionOptions'];

export type TemporalProfile =
  | { ok: true; connection: TemporalConnection; namespace?: string }
  | { ok: false; variable: string; message: string };

const BOOLEAN = /^(true|false|1|0)$/;
const FILE_VARIABLES = [
  'TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
] as const;

/** Resolves the profile; a problem names the variable to fix instead of throwing. */
export function loadTemporalProfile(env: NodeJS.ProcessEnv): TemporalProfile {
  // envconfig treats a missing config file as "no file", which hides a typo in an explicit path.
  if (env.TEMPORAL_CONFIG_FILE && !existsSync(env.TEMPORAL_CONFIG_FILE)) {
    return { ok: false, variable: 'TEMPORAL_CONFIG_FILE', message: `no such file: ${env.TEMPORAL_CONFIG_FILE}` };
  }
  // envconfig reads anything but 1/true as false: a typo would silently turn TLS off.
  if (env.TEMPORAL_TLS !== undefined && !BOOLEAN.test(env.TEMPORAL_TLS)) {
    return { ok: false, variable: 'TEMPORAL_TLS', message: 'must be true or false' };
  }
  try {
    const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
    return { ok: true, connection: connectionOptions, namespace };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') {
      const variable = FILE_VARIABLES.find((v) => env[v] === e.path) ?? 'TEMPORAL_CONFIG_FILE';
      return { ok: false, variable, message: `no such file: ${e.path}` };
    }
    if (/^Profile '.*' not found/.test(e.message)) return { ok: false, variable: 'TEMPORAL_PROFILE', message: e.message };
    return { ok: false, variable: 'TEMPORAL_CONFIG_FILE', message: e.message };
  }
}

/** Options for the client's Connection and the worker's NativeConnection alike. */
export function temporalConnectionOptions(config: { TEMPORAL_ADDRESS: string; temporalConnection: TemporalConnection }) {
  return { ...config.temporalConnection, address: config.TEMPORAL_ADDRESS };
}

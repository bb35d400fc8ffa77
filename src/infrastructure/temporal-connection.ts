import { existsSync } from 'node:fs';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';
import { z } from 'zod';
import { ConfigError } from './config-error';

/** What reaches the Temporal connection: `host:port` or `[ipv6]:port`, nothing else. */
export const TemporalAddress = z.string().refine((s) => {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/.exec(s);
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
}, 'must be host:port (for example 127.0.0.1:7233)');

/**
 * Address, TLS, API key and gRPC metadata for Temporal, as the SDK's environment configuration
 * resolves them: a profile (TEMPORAL_PROFILE, default `default`) of the TOML file at
 * TEMPORAL_CONFIG_FILE or ~/.config/temporalio/temporal.toml, overridden by TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_GRPC_META_*. The same settings the
 * `temporal` CLI reads, so one profile serves both.
 */
export type TemporalConnection = ClientConnectConfig['connectionOptions'];

export type TemporalProfile =
  { ok: true; connection: TemporalConnection; namespace?: string } | { ok: false; variable: string; message: string };

const BOOLEAN = /^(true|false|1|0)$/;
const FILE_VARIABLES = [
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
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
    const { connectionOptions, namespace } = loadClientConnectConfig({
      overrideEnvVars: env as Record<string, string>,
    });
    return { ok: true, connection: connectionOptions, namespace };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') {
      const variable = FILE_VARIABLES.find((v) => env[v] === e.path) ?? 'TEMPORAL_CONFIG_FILE';
      return { ok: false, variable, message: `no such file: ${e.path}` };
    }
    if (/^Profile '.*' not found/.test(e.message))
      return { ok: false, variable: 'TEMPORAL_PROFILE', message: e.message };
    return { ok: false, variable: 'TEMPORAL_CONFIG_FILE', message: e.message };
  }
}

/** Options for the client's Connection and the worker's NativeConnection alike. */
export function temporalConnectionOptions(config: {
  TEMPORAL_ADDRESS: string;
  temporalConnection: TemporalConnection;
}) {
  // Whatever the address came from, an empty or malformed one is a configuration error, not a crash.
  const address = TemporalAddress.safeParse(config.TEMPORAL_ADDRESS);
  if (!address.success)
    throw new ConfigError([{ variable: 'TEMPORAL_ADDRESS', message: address.error.issues[0]!.message }]);
  return { ...config.temporalConnection, address: config.TEMPORAL_ADDRESS };
}

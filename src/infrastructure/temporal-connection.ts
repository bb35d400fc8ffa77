import { readFileSync } from 'node:fs';
import { ConfigError, TemporalAddress, type Config } from './config';

export type TemporalConnectionConfig = Pick<Config,
  'TEMPORAL_ADDRESS' | 'TEMPORAL_TLS' | 'TEMPORAL_API_KEY' | 'TEMPORAL_TLS_CERT_PATH' | 'TEMPORAL_TLS_KEY_PATH' | 'TEMPORAL_TLS_CA_PATH'>;

/**
 * Address, TLS and credentials for Temporal, in the shape both the client's Connection and the
 * worker's NativeConnection take: plaintext for a local dev server, TLS with an API key or a client
 * certificate for Temporal Cloud or a secured cluster.
 */
export function temporalConnectionOptions(config: TemporalConnectionConfig) {
  // Whatever the address came from, an empty or malformed one is a configuration error, not a crash.
  const address = TemporalAddress.safeParse(config.TEMPORAL_ADDRESS);
  if (!address.success) throw new ConfigError([{ variable: 'TEMPORAL_ADDRESS', message: address.error.issues[0]!.message }]);
  const clientCertPair = config.TEMPORAL_TLS_CERT_PATH && config.TEMPORAL_TLS_KEY_PATH
    ? { crt: readFileSync(config.TEMPORAL_TLS_CERT_PATH), key: readFileSync(config.TEMPORAL_TLS_KEY_PATH) }
    : undefined;
  const serverRootCACertificate = config.TEMPORAL_TLS_CA_PATH ? readFileSync(config.TEMPORAL_TLS_CA_PATH) : undefined;
  const useTls = config.TEMPORAL_TLS ?? Boolean(config.TEMPORAL_API_KEY || clientCertPair);
  return {
    address: config.TEMPORAL_ADDRESS,
    ...(useTls ? { tls: clientCertPair || serverRootCACertificate ? { clientCertPair, serverRootCACertificate } : true } : {}),
    ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}),
  };
}

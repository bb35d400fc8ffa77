import { CostExplorerClient } from '@aws-sdk/client-cost-explorer';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { Config } from './config';

// Region, credentials and AWS_ENDPOINT_URL(_<SERVICE>) overrides are the SDK's own resolution;
// we only add what the SDK cannot infer.

/**
 * Every client gives up on a silent connection: a hung call fails its attempt well inside the
 * activity's timeout, and the engine retries it. (requestTimeout is the socket's idle time, so a
 * long upload that keeps sending is not cut off.)
 */
const requestHandler = { connectionTimeout: 5_000, requestTimeout: 20_000 };

export function s3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  // Local stand-ins (moto, MinIO) serve buckets by path, not by virtual host.
  return new S3Client({ requestHandler, forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL) });
}

/**
 * Cost Explorer with credentials from assuming the cost-reading role. The provider refreshes them
 * before expiry, and they never leave this process (nothing returns them to a workflow).
 * maxAttempts 1: throttling goes back to Temporal's retry policy, which resumes from the last page.
 */
export function costExplorerClient(roleArn: string, externalId?: string): CostExplorerClient {
  const client = new CostExplorerClient({
    region: 'us-east-1',
    requestHandler,
    maxAttempts: 1,
    credentials: fromTemporaryCredentials({
      params: {
        RoleArn: roleArn,
        RoleSessionName: `lease-costs-${process.pid}`,
        DurationSeconds: 3600,
        ExternalId: externalId,
      },
      clientConfig: { region: process.env.AWS_REGION ?? 'us-east-1', requestHandler },
    }),
  });
  refreshCredentialsWhenExpired(client);
  return client;
}

/** What services answer when a request's session token is no longer valid. */
export const EXPIRED_TOKEN_ERRORS: ReadonlySet<string> = new Set(['ExpiredTokenException', 'ExpiredToken']);

/**
 * The SDK caches role credentials until 5 minutes before the expiry STS announced, and keeps
 * sending them until then. A session can end sooner (revoked, or a clock that disagrees), and
 * then every call fails with ExpiredToken for up to 55 minutes. On that error, force the cached
 * credentials to be re-fetched (a new AssumeRole) and rethrow: the error stays a normal retryable
 * failure, and the engine's retry, from the same resume point, signs with the new session.
 */
export function refreshCredentialsWhenExpired(client: CostExplorerClient): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (EXPIRED_TOKEN_ERRORS.has((err as Error)?.name)) {
          // The client's provider is memoized, and re-fetches when called with forceRefresh
          // (the SDK's MemoizedProvider contract, @smithy/types).
          const credentials = client.config.credentials as (options?: { forceRefresh?: boolean }) => Promise<unknown>;
          // If STS fails now, the next call fails the same way and tries again.
          await credentials({ forceRefresh: true }).catch(() => undefined);
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'leaseCostsRefreshExpiredCredentials' },
  );
}

export const eventBridgeClient = () => new EventBridgeClient({ requestHandler });

export function jwtSecretLoader(config: Pick<Config, 'ISB_JWT_SECRET' | 'ISB_JWT_SECRET_PATH'>): () => Promise<string> {
  if (config.ISB_JWT_SECRET) {
    const secret = config.ISB_JWT_SECRET;
    return async () => secret;
  }
  const client = new SecretsManagerClient({ requestHandler });
  return async () => {
    const res = await client.send(new GetSecretValueCommand({ SecretId: config.ISB_JWT_SECRET_PATH }));
    if (!res.SecretString) throw new Error(`Secret ${config.ISB_JWT_SECRET_PATH} has no string value`);
    return res.SecretString.trim();
  };
}

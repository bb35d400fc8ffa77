import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import type { Config } from './config';
import { installReconcileSchedule } from './schedule-install';

// CommonJS package: Node's ESM loader cannot see its named exports.
const { IndexedValueType } = proto.temporal.api.enums.v1;
const indexedType = (type: 'Keyword' | 'Double') =>
  IndexedValueType[`INDEXED_VALUE_TYPE_${type.toUpperCase()}` as 'INDEXED_VALUE_TYPE_KEYWORD'];

/** What the namespace lacks and cannot be given here: a type conflict, or a server that refuses the call. */
export class NamespaceSetupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NamespaceSetupError';
  }
}

export interface NamespaceSetup {
  /** Search attributes this call registered (empty when all were there). */
  searchAttributesAdded: string[];
  schedule: Awaited<ReturnType<typeof installReconcileSchedule>>;
}

/**
 * What the namespace needs before the first lease starts, done idempotently so every worker may run
 * it at start: our search attributes (only the missing ones are added; an existing one of another
 * type is an error, never replaced) and the `lease-costs-reconcile` schedule (created, or brought to
 * the configured settings). Temporal Cloud does not take search attributes through the operator
 * API (https://docs.temporal.io/self-hosted-guide/visibility/custom-search-attributes: "use the tcld
 * CLI"): register them there beforehand, and this finds them and adds nothing.
 */
export async function setUpNamespace(
  client: Client,
  config: Pick<
    Config,
    'TEMPORAL_NAMESPACE' | 'TEMPORAL_TASK_QUEUE' | 'RECONCILE_INTERVAL_MINUTES' | 'RECONCILE_LOOKBACK_DAYS'
  >,
): Promise<NamespaceSetup> {
  const namespace = config.TEMPORAL_NAMESPACE;
  const operator = client.connection.operatorService;
  const { customAttributes } = await operator.listSearchAttributes({ namespace }).catch((err: unknown) => {
    if ((err as { code?: number }).code === 5 /* NOT_FOUND */) {
      throw new NamespaceSetupError(`namespace "${namespace}" does not exist: create it, or check TEMPORAL_NAMESPACE`, {
        cause: err,
      });
    }
    throw err;
  });
  const present = customAttributes ?? {};
  const wrongType = Object.entries(SEARCH_ATTRIBUTES).filter(
    ([name, type]) => present[name] !== undefined && present[name] !== indexedType(type),
  );
  if (wrongType.length) {
    throw new NamespaceSetupError(
      `namespace ${namespace} has search attributes of the wrong type: ${wrongType.map(([n, t]) => `${n} (want ${t})`).join(', ')}`,
    );
  }
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => present[name] === undefined);
  if (missing.length) {
    try {
      await operator.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map(([n, t]) => [n, indexedType(t)])),
      });
    } catch (err) {
      // A worker starting beside us added them first: the same names and types are what we want.
      const after = (await operator.listSearchAttributes({ namespace })).customAttributes ?? {};
      if (!missing.every(([n, t]) => after[n] === indexedType(t))) {
        throw new NamespaceSetupError(
          `cannot register search attributes ${missing.map(([n]) => n).join(', ')} in namespace ${namespace} ` +
            `(${(err as Error).message}); on Temporal Cloud: tcld namespace search-attributes add -n ${namespace} ` +
            missing.map(([n, t]) => `--sa ${n}=${t}`).join(' '),
          { cause: err },
        );
      }
    }
  }
  const schedule = await installReconcileSchedule(client, config);
  return { searchAttributesAdded: missing.map(([n]) => n), schedule };
}

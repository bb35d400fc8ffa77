import 'vitest';

// Values test/global-setup.ts hands to every test file via `inject(...)`.
declare module 'vitest' {
  export interface ProvidedContext {
    /** `127.0.0.1:<port>` of the shared headless, in-memory dev server (namespace `default`). */
    temporalAddress: string;
    /** A second namespace on that server, for singletons (the reconcile schedule) a file installs apart from the others. */
    isolatedNamespace: string;
    /** `http://127.0.0.1:<port>` of the shared moto server. */
    motoEndpoint: string;
    /** DATABASE_URL of the shared embedded ledger (PGlite in memory, over the wire protocol). */
    ledgerUrl: string;
    /** Bundled `workflows/index.ts`, or null when it did not exist or failed to bundle. */
    workflowBundlePath: string | null;
    /** Why bundling failed, when it did. */
    workflowBundleError: string | null;
    /** `bin/lease-costs.mjs` of the CLI built as the image ships it (dist/), for command processes. */
    cliBin: string;
  }
}

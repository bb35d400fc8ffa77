// Lint for what the type checker does not catch: promises nobody awaits, and workflow code
// reaching for something non-deterministic. Import cycles (type-only ones too) are dpdm's job
// (`npm run lint:cycles`): import-x's no-cycle skips type-only imports.
import tseslint from 'typescript-eslint';

// Two trees: what ships (src/, workflows/, activities/, bin/) and what supports it (support/: dev
// server, stand-ins, demo, helpers the tests and the bench share; test/). The image holds only the
// first, so it imports nothing from the second, not even types. scripts/lint-layers.mjs checks the
// same rules on the resolved import graph (dpdm), which also sees dynamic imports and bin/.
const shippedPatterns = [
  {
    regex: '^(\\.\\./)+(support|test)(/|$)',
    message:
      'Shipped code (src/, workflows/, activities/) imports nothing from support/ or test/: the image has neither.',
  },
  {
    // A package's internals are not its interface: Node refuses their directory imports, and they move between releases.
    regex: '^(@[^/]+/)?[^@./][^/]*/(lib|src|dist|build)(/|$)',
    message: "Import a package's public exports, not its internals (lib/, src/, dist/).",
  },
];
const restrictImports = (...extra) => ['error', { patterns: [...shippedPatterns, ...extra] }];

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', 'dist/', 'test-output/', 'coverage/', 'bench/results/'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['src/**/*.ts', 'workflows/**/*.ts', 'activities/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': restrictImports(),
      // A dynamic import with a literal path is bundled like a static one.
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportExpression[source.value=/^(\\.\\.\\/)+(support|test)(\\/|$)/]',
          message:
            'Shipped code imports nothing from support/ or test/, dynamically neither (see src/interfaces/support-commands.ts).',
        },
      ],
    },
  },
  {
    // Workflow code is replayed: it may import the workflow SDK, other workflow files, pure domain
    // modules, and types of anything else (erased at build time), nothing that can do I/O.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': restrictImports({
        // support/ and test/ are left to the pattern above, which allows no type imports either.
        regex: '^(?!@temporalio/workflow$|\\./|\\.\\./src/domain/|(\\.\\./)+(support|test)(/|$))',
        allowTypeImports: true,
        message: 'Workflow code imports only @temporalio/workflow, other workflows, src/domain (pure) and types.',
      }),
    },
  },
  {
    // The domain is pure: no I/O, no wiring, so workflows may use it.
    files: ['src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': restrictImports({
        regex:
          '^(node:|fs$|net$|http|child_process$|@aws-sdk/|@temporalio/(client|worker|activity)$|\\.\\./(infrastructure|interfaces)/|\\.\\./\\.\\./(activities|workflows))',
        allowTypeImports: true,
        message: 'src/domain is pure: no I/O, no infrastructure, no activities or workflows.',
      }),
    },
  },
  {
    // Infrastructure is the adapters activities are built from; wiring activities together is the
    // composition root's job (src/interfaces/worker-composition.ts).
    files: ['src/infrastructure/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': restrictImports({
        regex: '^(\\.\\./)+(activities|interfaces)(/|$)',
        message: 'src/infrastructure imports neither activities/ nor src/interfaces: compose them in src/interfaces.',
      }),
    },
  },
  {
    // The bench measures the product with the support tree; the tests are not its library.
    files: ['bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+test(/|$)',
              message: 'bench/ imports nothing from test/: shared helpers live in support/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['bin/**/*.mjs'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(support|test)(/|$)',
              message: 'bin/ ships: it imports nothing from support/ or test/.',
            },
          ],
        },
      ],
    },
  },
);

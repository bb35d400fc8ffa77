// Lint for what the type checker does not catch: promises nobody awaits, and workflow code
// reaching for something non-deterministic. Import cycles (type-only ones too) are dpdm's job
// (`npm run lint:cycles`): import-x's no-cycle skips type-only imports.
import tseslint from 'typescript-eslint';

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
    // Workflow code is replayed: it may import the workflow SDK, other workflow files, pure domain
    // modules, and types of anything else (erased at build time), nothing that can do I/O.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{
          regex: '^(?!@temporalio/workflow$|\\./|\\.\\./src/domain/)',
          allowTypeImports: true,
          message: 'Workflow code imports only @temporalio/workflow, other workflows, src/domain (pure) and types.',
        }],
      }],
    },
  },
  {
    // The domain is pure: no I/O, no wiring, so workflows may use it.
    files: ['src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{
          regex: '^(node:|fs$|net$|http|child_process$|@aws-sdk/|@temporalio/(client|worker|activity)$|\\.\\./(infrastructure|interfaces|dev)/|\\.\\./\\.\\./(activities|workflows))',
          allowTypeImports: true,
          message: 'src/domain is pure: no I/O, no infrastructure, no activities or workflows.',
        }],
      }],
    },
  },
);

// Type-checked typescript-eslint; the domain library's boundary is enforced
// here (no-restricted-imports) and by dependency-cruiser (.dependency-cruiser.js).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const FRAMEWORK_AND_CLIENTS = ['@nestjs/*', 'kafkajs', 'ioredis', '@elastic/*', 'prom-client', 'express'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**', 'bin/**', 'scripts/**', 'eslint.config.mjs', '.dependency-cruiser.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../../*'], message: 'use a path alias (@risk/domain, @risk/infra/..., @risk/engine/..., @test/...)' }] },
      ],
    },
  },
  {
    files: ['libs/domain/**/*.ts'],
    ignores: ['libs/domain/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: FRAMEWORK_AND_CLIENTS,
              message: 'the domain library stays free of frameworks and clients: define a port and implement it in libs/infra',
            },
            { group: ['@risk/infra*', '@risk/engine*'], message: 'the domain depends on nothing else in the repo' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);

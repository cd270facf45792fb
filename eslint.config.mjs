// Lint rules: typescript-eslint's type-aware set; a forgotten await on an activity or a git call is a real bug.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.ratchet/**', 'client/bin/**', 'eslint.config.mjs', 'client/demo/template/**', 'client/demo/answers/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['fs', 'child_process', 'simple-git', 'path', 'os', 'http', 'net'],
        patterns: [{ group: ['node:*', '@octokit/*', '../activities/*', '../activities/**'], allowTypeImports: true }],
      }],
    },
  },
);

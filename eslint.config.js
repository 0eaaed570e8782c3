import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'bench/results/**', 'dashboard/vendor/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'off',
    },
  },
  {
    // Tests read JSON answers loosely; the product code keeps `any` out.
    files: ['test/**/*.ts', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['pg', 'better-sqlite3', 'undici', 'fastify', 'node:*'] }],
    },
  },
  {
    // The receiver ships to other people's runtimes (Workers, Deno, Bun): nothing from the server,
    // no database driver, no framework at run time (type imports only, checked by its tests).
    files: ['src/receiver/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['../server/*', '../storage/*', '../delivery/*', '../domain/*', '../config/*', '../cli/*', '../testing/*', '../offload.js', '../index.js'], message: 'offload/receiver must not depend on the server code' },
        { group: ['pg', 'better-sqlite3', 'express', 'hono', 'zod', 'undici', 'pino'], message: 'offload/receiver takes these as arguments, it does not import them' },
        { group: ['fastify'], allowTypeImports: true, message: 'type imports only' },
      ] }],
    },
  },
  {
    // The dashboard's browser modules: names are checked by TypeScript (dashboard/tsconfig.json,
    // checkJs) against the DOM library, which knows the browser's globals better than a list here.
    files: ['dashboard/**/*.js'],
    rules: { 'no-undef': 'off' },
  },
);

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    // The root entry must never load an optional peer: those live behind their own subpaths.
    files: [
      'src/core/**',
      'src/resolution/**',
      'src/registration/**',
      'src/balancing/**',
      'src/backends/*.ts',
      'src/inspection/**',
      'src/observability/**',
      'src/integrations/{lifespan,options,address,health,signals}.ts',
      'src/index.ts',
    ],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['ioredis', 'fastify', 'fastify-plugin', '@fastify/*', 'express', '@nestjs/*', 'undici', 'prom-client', '@opentelemetry/*'] }],
    },
  },
  {
    files: ['examples/**', 'bench/**', 'scripts/**', 'test/fixtures/**'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);

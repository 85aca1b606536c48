import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tmp/**', 'docs/api/**'] },
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
    // etcd3 and @grpc/* are dev dependencies (the bench compares etcd's gRPC API with the JSON gateway rollcall/etcd uses).
    files: ['src/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['etcd3', '@grpc/*'] }],
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
      'no-restricted-imports': ['error', { patterns: ['ioredis', 'fastify', 'fastify-plugin', '@fastify/*', 'express', '@nestjs/*', 'undici', 'etcd3', '@grpc/*', 'prom-client', '@opentelemetry/*'] }],
    },
  },
  {
    // The command line imports a backend only once it is chosen (src/cli/registries.ts), so that
    // `rollcall --consul ...` runs without ioredis installed.
    files: ['src/cli/**', 'src/dashboard/**'],
    ignores: ['src/cli/redis-heartbeats.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['ioredis', '**/backends/*/*'], allowTypeImports: true, message: 'load backends in src/cli/registries.ts with import()' }] },
      ],
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

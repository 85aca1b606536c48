import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The rooms of src/ and what each may import of ours: docs/architecture.md's room table, enforced.
 * An entry names a whole room (`'core'`) or single modules of one (`'backends/backend'`: the
 * contract). A room imports its own modules freely; anything of ours not listed is an error. Every
 * folder of src/ must have an entry, so a new room is fenced from its first file. Files directly
 * in src/ (`index.ts`) are the public faces: they re-export every room.
 */
const ROOMS = {
  core: [],
  backends: ['core', 'observability/channels', 'observability/registry-call'],
  registration: ['core', 'backends/backend'],
  resolution: ['core', 'backends/backend', 'balancing'],
  balancing: ['core', 'observability/channels'],
  http: ['core', 'resolution', 'balancing', 'observability/channels', 'observability/http-attempt'],
  integrations: ['core', 'backends/backend', 'registration', 'resolution', 'inspection', 'observability/status'],
  inspection: ['core', 'backends/backend'],
  gateway: ['core', 'backends/backend', 'resolution', 'http', 'inspection', 'integrations/options', 'observability/http-attempt'],
  observability: ['core', 'backends/backend', 'registration', 'resolution', 'balancing', 'inspection', 'integrations/handle'],
  prometheus: ['core', 'observability'],
  otel: ['core', 'observability'],
  // Backends only through import() in src/cli/registries.ts: see the rule for src/cli below.
  cli: ['core', 'backends', 'registration', 'resolution', 'balancing', 'http', 'integrations', 'inspection', 'gateway', 'observability', 'dashboard'],
  dashboard: ['core', 'backends', 'registration', 'resolution', 'balancing', 'http', 'integrations', 'inspection', 'gateway', 'observability', 'cli'],
  testing: ['core', 'backends/backend', 'backends/memory'],
};

/** Optional peers: the root entry must never load one (they live behind their own subpaths). */
const OPTIONAL_PEERS = ['ioredis', 'fastify', 'fastify-plugin', '@fastify/*', 'express', '@nestjs/*', 'undici', 'prom-client', '@opentelemetry/*'];

/** The root entry loads these rooms whole, and of integrations/ the modules lifespan() needs. */
const PEER_FREE_ROOMS = ['core', 'registration', 'resolution', 'balancing', 'inspection', 'observability'];
const PEER_FREE_INTEGRATIONS = 'src/integrations/{address,handle,health-answer,lifespan,options,signals}.ts';

const folders = (path) =>
  readdirSync(join(import.meta.dirname, path), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);
const BACKENDS = folders('src/backends');

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Patterns forbidding `room` to import what ROOMS does not list for it. */
function fencesOf(room) {
  const allowed = ROOMS[room];
  const message = `src/${room}/ may import only ${allowed.length === 0 ? 'nothing of ours' : allowed.join(', ')} (docs/architecture.md, Rooms)`;
  const patterns = [];
  for (const other of Object.keys(ROOMS)) {
    if (other === room || allowed.includes(other)) continue;
    const modules = allowed.filter((entry) => entry.startsWith(`${other}/`)).map((entry) => escape(entry.slice(other.length + 1)));
    const except = modules.length === 0 ? '' : `(?!(?:${modules.join('|')})\\.js$)`;
    patterns.push({ regex: `^(\\.\\./)+${escape(other)}/${except}`, message });
  }
  return patterns;
}

const devOnly = { group: ['etcd3', '@grpc/*'], message: 'etcd3 and @grpc/* are dev dependencies (the bench compares etcd APIs)' };
const peers = { group: OPTIONAL_PEERS, message: 'the root entry never loads an optional peer: use a subpath' };
const restrict = (files, patterns) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns: [devOnly, ...patterns] }] } });

/** One `no-restricted-imports` per file: flat config replaces, never merges, a rule's options. */
function roomFences() {
  const unknown = folders('src').filter((folder) => !(folder in ROOMS));
  if (unknown.length > 0) throw new Error(`eslint.config.js: add ${unknown.join(', ')} to ROOMS (docs/architecture.md, Rooms)`);
  const anotherBackend = (depth) => ({
    regex: `^${depth}(?:${BACKENDS.map(escape).join('|')})/`,
    message: 'a backend never imports another, and the contract modules (src/backends/*.ts) never import a backend',
  });
  return [
    ...Object.keys(ROOMS).map((room) => restrict([`src/${room}/**`], [...fencesOf(room), ...(PEER_FREE_ROOMS.includes(room) ? [peers] : [])])),
    restrict([`src/backends/{${BACKENDS.join(',')}}/**`], [...fencesOf('backends'), anotherBackend('(\\.\\./)+')]),
    restrict(['src/backends/*.ts'], [...fencesOf('backends'), anotherBackend('\\./'), peers]),
    restrict([PEER_FREE_INTEGRATIONS], [...fencesOf('integrations'), peers]),
    // The public faces (index.ts) re-export every room.
    restrict(['src/*.ts'], [peers]),
  ];
}

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
  ...roomFences(),
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

import { defineConfig } from 'tsup';

// One entry per subpath export; package.json "exports" must list the same names. `cli` is the
// `rollcall` executable (package.json "bin"), not an export.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    backend: 'src/backends/index.ts',
    redis: 'src/backends/redis/index.ts',
    consul: 'src/backends/consul/index.ts',
    etcd: 'src/backends/etcd/index.ts',
    dns: 'src/backends/dns/index.ts',
    http: 'src/http/index.ts',
    fastify: 'src/integrations/fastify.ts',
    express: 'src/integrations/express.ts',
    nest: 'src/integrations/nest/index.ts',
    gateway: 'src/gateway/index.ts',
    cli: 'src/cli/main.ts',
    prometheus: 'src/prometheus/index.ts',
    otel: 'src/otel/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: true,
});

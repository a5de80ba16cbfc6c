/**
 * Architectural boundaries (domain-driven-hexagon style):
 * - the domain library imports no framework, client or other repo library;
 * - each external client package is imported by its one wrapper only.
 */
const CLIENT_WRAPPERS = [
  { pkg: 'kafkajs', wrapper: '^libs/infra/src/kafka/kafka\\.client\\.ts$' },
  { pkg: 'ioredis', wrapper: '^libs/infra/src/redis/redis\\.client\\.ts$' },
  { pkg: '@elastic/elasticsearch', wrapper: '^libs/infra/src/elasticsearch/elasticsearch\\.client\\.ts$' },
  { pkg: 'prom-client', wrapper: '^libs/infra/src/metrics/engine\\.metrics\\.ts$' },
];

module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'libs/domain must not depend on NestJS, Kafka, Redis, Elasticsearch clients or other repo libraries',
      severity: 'error',
      from: { path: '^libs/domain/src', pathNot: '\\.spec\\.ts$' },
      to: { path: ['node_modules/(@nestjs|kafkajs|ioredis|@elastic|express|prom-client)', '^libs/infra', '^apps/'] },
    },
    ...CLIENT_WRAPPERS.map(({ pkg, wrapper }) => ({
      name: `one-wrapper-${pkg.replace(/[@/]/g, '')}`,
      comment: `only ${wrapper} may import ${pkg}`,
      severity: 'error',
      from: { pathNot: wrapper },
      to: { path: `node_modules/${pkg.replace('/', '/')}/` },
    })),
    {
      name: 'generator-is-not-engine-code',
      comment:
        'libs/generator (the seeded stream generator and random) serves the CLI (risk-engine generate), tests and benches: ' +
        'the engine service and the libraries it runs on do not import it (specs may)',
      severity: 'error',
      from: { path: '^(apps/engine|libs/(domain|infra))/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^libs/generator/' },
    },
    {
      name: 'generator-stands-alone',
      comment: 'libs/generator imports no repo code but the domain (its events), so the CLI, tests and benches can share it',
      severity: 'error',
      from: { path: '^libs/generator/' },
      to: { path: ['^libs/infra/', '^apps/', '^test/'] },
    },
    {
      name: 'production-imports-no-test-or-bench',
      comment:
        'production code (apps/engine, apps/cli, libs) is what tsconfig.build.json and the image compile: it must not import ' +
        'test/, apps/bench or any *.bench.ts / *.spec.ts (those are not built, so the production build would break); specs may',
      severity: 'error',
      from: { path: '^(apps/(engine|cli)|libs)/', pathNot: '\\.spec\\.ts$' },
      to: { path: ['^test/', '^apps/bench/', '\\.bench\\.ts$', '\\.spec\\.ts$'] },
    },
    {
      name: 'not-to-test',
      comment:
        'tests never import bench code, and benches import only the shared server harnesses and fixtures of test/support: ' +
        'a bench change cannot break a test, and a test file is never a bench dependency',
      severity: 'error',
      from: { path: '^test/' },
      to: { path: ['^apps/bench/', '\\.bench\\.ts$'] },
    },
    {
      name: 'bench-uses-only-test-support',
      severity: 'error',
      from: { path: '^apps/bench/' },
      to: { path: '^test/', pathNot: '^test/support/' },
    },
    {
      name: 'engine-wiring-imports-no-edge',
      comment:
        'apps/engine/src/engine (the module, adapters, lifecycle) is what the ingest edges build on: it must not import ' +
        'apps/engine/src/ingest, or the two folders depend on each other',
      severity: 'error',
      from: { path: '^apps/engine/src/engine/' },
      to: { path: '^apps/engine/src/ingest/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^dist/|\\.d\\.ts$)' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};

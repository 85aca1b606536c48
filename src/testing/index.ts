/**
 * `rollcall/testing`: helpers for testing degradation paths and proving third-party backends.
 * Loads under any test runner, or none: the conformance suites register their tests through the
 * runner's own `describe`, `it` and `afterEach`, which you pass in.
 *
 * @module rollcall/testing
 */
export { FaultyBackend, type BackendOperation, type FaultMode, type FaultyBackendOptions, type LoseDataOptions } from './faulty-backend.js';
export { describeBackendConformance, type ConformanceTarget } from './conformance.js';
export type { TestRunner } from './runner.js';
export { describeReadOnlyBackendConformance, type PublishedInstance, type ReadOnlyConformanceTarget } from './read-only-conformance.js';

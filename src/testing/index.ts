/**
 * `rollcall/testing`: helpers for testing degradation paths and proving third-party backends.
 * The conformance suite needs vitest (an optional peer dependency).
 *
 * @module rollcall/testing
 */
export { FaultyBackend, type BackendOperation, type FaultMode, type FaultyBackendOptions, type LoseDataOptions } from './faulty-backend.js';
export { describeBackendConformance, type ConformanceTarget } from './conformance.js';
export { describeReadOnlyBackendConformance, type PublishedInstance, type ReadOnlyConformanceTarget } from './read-only-conformance.js';

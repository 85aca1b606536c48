import { afterEach, describe, it } from 'vitest';
import { MemoryBackend, MemoryRegistry } from '../../src/index.js';
import { describeBackendConformance } from '../../src/testing/index.js';

const registry = new MemoryRegistry();

describeBackendConformance('MemoryBackend', {
  create: ({ namespace }) => new MemoryBackend({ registry, namespace }),
}, { describe, it, afterEach });

import { MemoryFeatureStore } from '@risk/domain';
import { featureStoreConformance } from './feature-store.conformance';

// The reference implementation must pass its own contract, or the Redis comparison proves nothing.
featureStoreConformance('MemoryFeatureStore', async (definitions, settings) =>
  Promise.resolve(new MemoryFeatureStore(definitions, settings)),
);

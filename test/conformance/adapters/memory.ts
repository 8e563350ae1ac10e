import { MemoryBroker } from '../../../runtime/brokers/memory.js';
import type { AdapterUnderTest } from '../adapters.js';

export const adapters: readonly AdapterUnderTest[] = [{ name: 'memory', servers: [], create: async () => new MemoryBroker('memory') }];

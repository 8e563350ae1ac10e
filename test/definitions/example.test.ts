import { describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../runtime/definitions/index.js';

describe('the example application', () => {
  it('is valid and merges every section', async () => {
    const result = await loadDefinitions('definitions');
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const definitions = result.definitions!;
    expect(definitions.events.get('OrderCreated')?.latest).toBe(2);
    expect(definitions.brokers.get('default')?.spec.type).toBe('postgres');
    expect(definitions.stores.database.type).toBe('embedded');
    expect([...definitions.sagas.keys()]).toContain('OrderFulfillment');
  });
});

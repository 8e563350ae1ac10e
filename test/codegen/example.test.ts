import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateCode } from '../../codegen/index.js';
import { compareOutput } from '../../runtime/cli/codegen.js';
import { loadDefinitions } from '../../runtime/definitions/index.js';
import { REPO, tsc } from './helpers.js';

const EXAMPLE = join(REPO, 'definitions');
const GENERATED = join(EXAMPLE, 'generated');

describe('the example application', () => {
  it('has its generated code committed and up to date', async () => {
    const { definitions } = await loadDefinitions(EXAMPLE);
    const files = await generateCode(definitions!);
    expect(files.map((file) => file.path)).toEqual(['client.ts', 'envelope.ts', 'handlers.ts', 'index.ts', 'messages.ts', 'validators.d.ts', 'validators.js']);
    const comparison = compareOutput(GENERATED, files);
    expect({ changed: comparison.changed, missing: comparison.missing, extra: comparison.extra }).toEqual({ changed: [], missing: [], extra: [] });
  });

  it('passes `edaflow codegen definitions --check` (the built CLI)', () => {
    const result = spawnSync(process.execPath, ['bin/edaflow.js', 'codegen', 'definitions', '--check'], { cwd: REPO, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^codegen: definitions\/generated is up to date \(7 files, \d+ ms\)\n$/);
    expect(result.status).toBe(0);
  });

  it('compiles, handlers and generated code, under tsc --strict with NodeNext', () => {
    const result = tsc(join(EXAMPLE, 'tsconfig.json'));
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  it('ships validators that accept every example and point at what is wrong in bad data', async () => {
    const validators = await import('../../definitions/generated/validators.js');
    const { definitions } = await loadDefinitions(EXAMPLE);
    let checked = 0;
    for (const event of definitions!.events.values()) {
      for (const version of event.versions) {
        const validate = (validators.eventValidators as unknown as Record<string, Record<number, (data: unknown) => boolean>>)[event.name]![version.version]!;
        for (const example of version.examples) {
          expect(validate(example), `${event.name} v${version.version} example`).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(16);

    const example = definitions!.events.get('OrderCreated')!.versions[1]!.examples[0] as Record<string, unknown>;
    expect(validators.validateOrderCreated).toBe(validators.validateOrderCreatedV2);
    expect(validators.validateOrderCreatedV2(example)).toBe(true);
    expect(validators.validateOrderCreatedV2.errors).toBeNull();

    const items = example['items'] as Record<string, unknown>[];
    const bad = { ...example, items: [items[0], { ...items[1], quantity: 0 }] };
    expect(validators.validateOrderCreatedV2(bad)).toBe(false);
    expect(validators.validateOrderCreatedV2.errors?.[0]).toMatchObject({ instancePath: '/items/1/quantity', keyword: 'minimum' });

    // formats are checked too (ajv-formats, loaded by the standalone code)
    expect(validators.validateShipmentDelayedV1({ orderId: 'o-1', shipmentId: 's-1', reason: 'storm', expectedBy: 'tomorrow' })).toBe(false);
    expect(validators.validateShipmentDelayedV1.errors?.[0]).toMatchObject({ instancePath: '/expectedBy', keyword: 'format' });

    expect(validators.commandValidators.CancelOrder({ orderId: 'o-1', reason: '' })).toBe(false);
    expect(validators.commandValidators.CancelOrder.errors?.[0]?.instancePath).toBe('/reason');
  });

  it('ships validators that load in plain Node as an ES module (not only through vitest)', () => {
    const script = `
      const v = await import('./definitions/generated/validators.js');
      const results = [
        v.validateOrderConfirmed({ orderId: 'o-1' }),
        v.validateOrderConfirmed({ orderId: '' }) || v.validateOrderConfirmed.errors[0],
        v.validateShipmentDelayed({ orderId: 'o-1', shipmentId: 's-1', reason: 'storm', expectedBy: 'soon' }) || v.validateShipmentDelayed.errors[0].instancePath,
      ];
      process.stdout.write(JSON.stringify(results));`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    const [valid, minLength, format] = JSON.parse(result.stdout) as [boolean, { instancePath: string; keyword: string }, string];
    expect(valid).toBe(true);
    expect(minLength).toMatchObject({ instancePath: '/orderId', keyword: 'minLength' });
    expect(format).toBe('/expectedBy');
  });
});

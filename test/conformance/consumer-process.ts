/**
 * A consumer in a process of its own, for the crash case of the conformance suite: it subscribes a
 * group through the real pipeline, records each message it starts handling (one line each in `record`)
 * and never finishes handling any, so whatever it holds is unacknowledged when it is killed.
 *
 *   node --import tsx test/conformance/consumer-process.ts <adapter module> <adapter name> <share> <queue> <record file>
 */
import { appendFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AdapterUnderTest } from './adapters.js';
import { consume } from './harness.js';

const [modulePath, name, share, queue, record] = process.argv.slice(2) as [string, string, string, string, string];
const module = (await import(pathToFileURL(resolve(modulePath)).href)) as { adapters: readonly AdapterUnderTest[] };
const underTest = module.adapters.find((candidate) => candidate.name === name);
if (!underTest) throw new Error(`no adapter ${name} in ${modulePath}`);
const adapter = await underTest.create({ share, keep: true });
await adapter.connect();
await consume(adapter, { kind: 'queue', name: queue }, 'workers', {
  prefetch: 2,
  concurrency: 2,
  timeoutMs: 600_000,
  handler: async (envelope) => {
    appendFileSync(record, `${(envelope.data as { n: number }).n}\n`);
    await new Promise(() => undefined);
  },
});
appendFileSync(record, 'subscribed\n');
// Up until it is killed: a handler that never settles holds no timer or socket, so once the adapter
// stops polling (its prefetch is full) nothing else would keep the event loop, and node would exit 0.
setInterval(() => undefined, 60_000);

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { publishCommand } from '../../runtime/cli/publish.js';
import { statusCommand, type StatusReport } from '../../runtime/cli/status.js';
import { loadDefinitions } from '../../runtime/definitions/index.js';
import { startRuntime, type Runtime } from '../../runtime/host/runtime.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { waitFor } from '../helpers/process.js';
import { ensureServers } from '../servers/servers.mjs';

const POSTGRES_URL = process.env['EDAFLOW_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RUN = `s${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

interface BrokerCase {
  readonly name: string;
  readonly servers: readonly string[];
  readonly broker: string;
  /** True: the database is an embedded PGlite in the case's directory; else a schema of the PostgreSQL server. */
  readonly embedded?: boolean;
  /** SQS has no topics: the message is a command on a queue. */
  readonly queues?: boolean;
}

const CASES: readonly BrokerCase[] = [
  { name: 'kafka', servers: ['kafka'], broker: '{ type: kafka, brokers: ["127.0.0.1:9092"] }' },
  { name: 'rabbitmq', servers: [], broker: '{ type: rabbitmq, url: "amqp://guest:guest@127.0.0.1:5672" }' },
  { name: 'nats', servers: [], broker: '{ type: nats, servers: ["127.0.0.1:4222"] }' },
  { name: 'sqs', servers: ['sqs'], broker: '{ type: sqs, region: us-east-1, endpoint: "http://127.0.0.1:9324" }', queues: true },
  { name: 'postgres (PostgreSQL)', servers: [], broker: '{ type: postgres, pollInterval: 200ms }' },
  { name: 'postgres (PGlite)', servers: [], broker: '{ type: postgres, pollInterval: 200ms }', embedded: true },
];

/** Two consumers of one destination, neither running: `ship` alerts above 2 messages of lag, `audit` above 10. */
function definitions(test: BrokerCase, name: string, database: string): string {
  const message = test.queues
    ? `queues: { ${name}: {} }\ncommands:\n  PlaceOrder: { queue: ${name}, schema: { type: object, properties: { n: { type: integer } } } }\n`
    : `topics: { ${name}: { partitions: 2 } }\nevents:\n  OrderPlaced: { topic: ${name}, versions: { 1: { schema: { type: object, properties: { n: { type: integer } } } } } }\n`;
  const type = test.queues ? 'PlaceOrder' : 'OrderPlaced';
  return `brokers: { main: ${test.broker} }
stores: { database: ${database} }
defaults: { source: status-test, alerts: { lagAbove: 10 } }
${message}handlers:
  ship: { on: ${type}, alerts: { lagAbove: 2 } }
  audit: { on: ${type} }
`;
}

/** Runs a command in this process (the functions `edaflow` calls), returning its exit code and what it wrote. */
async function edaflow(command: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    return { code: await command(), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe.each(CASES)('edaflow status: $name', (test) => {
  const dir = mkdtempSync(join(tmpdir(), 'edaflow-status-'));
  const schema = `edaflow_status_${RUN}_${test.name.replace(/\W+/g, '_')}`;
  const destination = `orders-${RUN}-${test.name.replace(/\W+/g, '-')}`.replace(/-+$/, '');

  beforeAll(async () => {
    await ensureServers(['postgres', ...test.servers]);
    const database = test.embedded ? `{ type: embedded, path: "${join(dir, 'db')}" }` : `{ type: postgres, url: "${POSTGRES_URL}", schema: ${schema} }`;
    writeFileSync(join(dir, 'app.yaml'), definitions(test, destination, database));
    writeFileSync(join(dir, 'orders.ndjson'), '{"n":1}\n{"n":2}\n{"n":3}\n');
  }, 180_000);

  afterAll(async () => {
    if (!test.embedded) {
      const client = new pg.Client(POSTGRES_URL);
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows a consumer that is behind its lagAbove as lagging, one within it as OK', async () => {
    // The first command provisions the groups (at the destination's end); the three messages then wait for them.
    const published = await edaflow(() => publishCommand(dir, test.queues ? 'PlaceOrder' : 'OrderPlaced', { file: join(dir, 'orders.ndjson') }));
    expect(published.code, published.stderr).toBe(0);

    const json = await edaflow(() => statusCommand(dir, { format: 'json' }));
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as StatusReport;
    const row = (name: string) => report.consumers.find((consumer) => consumer.name === name);
    // On a queue both handlers compete for the same three messages; on a topic each group has its own.
    expect(row('ship')).toMatchObject({ kind: 'handler', broker: 'main', lag: 3, flags: ['LAGGING'], errorRate: null });
    expect(row('audit')).toMatchObject({ kind: 'handler', lag: 3, flags: [] });
    expect(report.outbox).toEqual({ pending: 0, dead: 0 });

    const text = await edaflow(() => statusCommand(dir, { format: 'table' }));
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(/^KIND\s+NAME\s+BROKER\s+DESTINATION\s+GROUP\s+LAG\s+DLQ\s+ERRORS\s+STATUS$/);
    expect(lines.find((line) => /^handler\s+ship\s/.test(line))).toMatch(/\s3\s+0\s+-\s+LAGGING$/);
    expect(lines.find((line) => /^handler\s+audit\s/.test(line))).toMatch(/\s3\s+0\s+-\s+OK$/);

    const failing = await edaflow(() => statusCommand(dir, { failOnAlert: true }));
    expect(failing.code).toBe(1);
  }, 120_000);

  it('is the `edaflow status` command of the built command line', ({ annotate }) => {
    // Once is enough for the wiring (a process per broker would only repeat it); PGlite allows one process at a time anyway.
    if (test.name !== 'postgres (PostgreSQL)') return void annotate('the command line is spawned in the postgres (PostgreSQL) case');
    const run = spawnSync(process.execPath, [join(process.cwd(), 'bin/edaflow.js'), 'status', dir, '--fail-on-alert'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/^handler\s+ship\s.*\s3\s+0\s+-\s+LAGGING$/m);
  }, 60_000);
});

describe('edaflow status --url beside a runtime on the embedded database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edaflow-status-embedded-'));
  let runtime: Runtime | undefined;

  beforeAll(async () => {
    writeFileSync(join(dir, 'app.yaml'), `
edaflow: 1
stores: { database: { type: embedded, path: "${join(dir, 'db')}" } }
defaults: { source: status-test }
topics: { orders: {} }
events:
  OrderPlaced: { topic: orders, versions: { 1: { schema: { type: object } } } }
handlers:
  ship: { on: OrderPlaced }
`);
    writeFileSync(join(dir, 'handlers.mjs'), 'export async function ship() { throw new Error("no courier"); }\n');
    const loaded = await loadDefinitions(dir);
    if (!loaded.definitions) throw new Error(JSON.stringify(loaded.diagnostics));
    runtime = await startRuntime(loaded.definitions, { logger: createLogger({ level: 'silent' }), port: 0, handlersModule: join(dir, 'handlers.mjs') });
  }, 60_000);

  afterAll(async () => {
    await runtime?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the runtime`s own report, error rates included, where opening the database from here is refused', async () => {
    await expect(statusCommand(dir, { format: 'json' })).rejects.toMatchObject({ code: 'EDA_DATABASE_IN_USE' });

    const published = await fetch(`${runtime!.url}/events/OrderPlaced`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: {} }) });
    expect(published.status).toBe(202);
    const report = await waitFor(async () => {
      const remote = await edaflow(() => statusCommand(dir, { url: runtime!.url, format: 'json' }));
      expect(remote.code, remote.stderr).toBe(0);
      const parsed = JSON.parse(remote.stdout) as StatusReport;
      return parsed.consumers[0]?.errorRate === 1 ? parsed : undefined;
    }, 20_000);
    expect(report.consumers).toEqual([expect.objectContaining({ kind: 'handler', name: 'ship', broker: 'default', destination: 'topic:orders', errorRate: 1 })]);

    await expect(statusCommand(dir, { url: 'http://127.0.0.1:9' })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/^cannot reach the runtime at http:\/\/127.0.0.1:9/) });
  }, 60_000);
});

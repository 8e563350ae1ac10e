import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadDefinitions, type Definitions } from '../../runtime/definitions/index.js';
import { startRuntime, type Runtime } from '../../runtime/host/runtime.js';
import { createLogger, type Logger } from '../../runtime/observability/logger.js';

export const POSTGRES_URL = process.env['EDAFLOW_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestApp {
  readonly runtime: Runtime;
  readonly definitions: Definitions;
  /** Stops the runtime, deletes the directory and drops the app's schema. */
  stop(): Promise<void>;
}

/**
 * A whole runtime in this process, on PostgreSQL in a schema of its own: `definitions(schema)` gives the
 * YAML (its `stores.database` names the schema), `handlers` the handlers module's source.
 */
export async function startTestApp(options: { name: string; definitions: (schema: string) => string; handlers: string; logger?: Logger }): Promise<TestApp> {
  const schema = `edaflow_${options.name}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const dir = mkdtempSync(join(tmpdir(), `edaflow-${options.name}-`));
  writeFileSync(join(dir, 'app.yaml'), options.definitions(schema));
  writeFileSync(join(dir, 'handlers.mjs'), options.handlers);
  const loaded = await loadDefinitions(dir);
  if (!loaded.definitions || loaded.errorCount) throw new Error(`invalid test definitions: ${JSON.stringify(loaded.diagnostics, null, 2)}`);
  const definitions = loaded.definitions;
  const logger = options.logger ?? createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'silent' });
  const runtime = await startRuntime(definitions, { logger, port: 0, handlersModule: join(dir, 'handlers.mjs') });
  return {
    runtime,
    definitions,
    async stop() {
      await runtime.stop();
      rmSync(dir, { recursive: true, force: true });
      const client = new pg.Client(POSTGRES_URL);
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}

/** POSTs JSON and reads the JSON answer. */
export async function postJson(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

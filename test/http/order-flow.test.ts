import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../helpers/process.js';
import { exampleOrder } from '../../scripts/example-order.mjs';

// The example's order flow over HTTP, end to end, on the embedded defaults: the built CLI runs
// definitions/ with its handlers module; the test talks to it only over HTTP.
const cli = join(process.cwd(), 'bin/edaflow.js');
const workdir = mkdtempSync(join(tmpdir(), 'edaflow-http-'));
const secret = randomBytes(32).toString('base64url');
let base = '';
let server: ReturnType<typeof start>;

function start(port: number) {
  const child = spawn(process.execPath, [cli, 'run', 'definitions', '--handlers', 'definitions/handlers/index.ts', '--port', String(port)], {
    cwd: process.cwd(),
    env: { ...process.env, EDAFLOW_DATA_DIR: join(workdir, 'db'), EDAFLOW_JWT_SECRET: secret, EDAFLOW_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

function token(subject: string, roles: string[], key = secret): Promise<string> {
  return new SignJWT({ roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(subject).setExpirationTime('10m').sign(new TextEncoder().encode(key));
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

async function get(path: string): Promise<Answer> {
  const response = await fetch(`${base}${path}`);
  return { status: response.status, headers: response.headers, body: await response.json() };
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = start(port);
  await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, 150_000, () => server.output().stdout + server.output().stderr);
}, 180_000);

afterAll(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  rmSync(workdir, { recursive: true, force: true });
});

describe('the order flow over HTTP (embedded defaults)', () => {
  const orderId = `o-${randomUUID().slice(0, 8)}`;

  it('create → the fulfilment saga confirms → cancel (support) → a second cancel is 409 → the query shows the cancelled summary', async () => {
    const readiness = (await get('/readyz')).body as { components: { name: string; ready: boolean }[] };
    expect(readiness.components.map((component) => component.name)).toEqual(expect.arrayContaining(['database', 'brokers', 'eventstore', 'projections', 'sagas', 'streams']));

    const created = await post('/commands/CreateOrder', { data: exampleOrder(orderId) });
    expect(created.status).toBe(202);
    expect(created.body).toEqual({ id: expect.any(String) });

    // The OrderFulfillment saga reserves stock, charges, ships, then sends ConfirmOrder (version 2).
    const confirmed = await waitFor(async () => {
      const answer = await get(`/queries/orderById?id=${orderId}`);
      return answer.status === 200 && answer.body.status === 'confirmed' ? answer.body : undefined;
    }, 60_000);
    expect(confirmed).toMatchObject({ id: orderId, status: 'confirmed', total: 47 });
    const early = await post('/commands/ConfirmOrder?wait=true', { data: { orderId } });
    expect(early.status).toBe(409);
    expect(early.body.error).toMatchObject({ code: 'EDA_COMMAND_REJECTED', message: 'Can only confirm pending orders' });

    const support = { authorization: `Bearer ${await token('agent-7', ['support'])}` };
    const cancel = { data: { orderId, reason: 'Customer changed their mind' } };
    const cancelled = await post('/commands/CancelOrder?wait=true', cancel, support);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ streamId: orderId, version: 3 });

    const again = await post('/commands/CancelOrder?wait=true', cancel, support);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'EDA_COMMAND_REJECTED', message: 'Cannot cancel order in current status' });

    const summary = await waitFor(async () => {
      const answer = await get(`/queries/orderById?id=${orderId}`);
      return answer.status === 200 && answer.body.status === 'cancelled' ? answer.body : undefined;
    }, 15_000);
    expect(summary).toMatchObject({ id: orderId, customer_id: 'c-42', status: 'cancelled', total: 47, item_count: 3, cancel_reason: 'Customer changed their mind' });

    // One structured line per command: who, which, what became of it.
    // The example's notifyCustomer handler prints plain lines among the JSON logs.
    const lines = server.output().stdout.trim().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.filter((line) => line['msg'] === 'command' && line['command'] === 'CancelOrder')).toEqual([
      expect.objectContaining({ user: 'agent-7', outcome: 'completed', status: 200, id: cancelled.body.id, streamId: orderId, version: 3 }),
      expect.objectContaining({ user: 'agent-7', outcome: 'rejected', status: 409, code: 'EDA_COMMAND_REJECTED', id: expect.any(String) }),
    ]);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('edaflow_http_commands_total{command="CancelOrder",outcome="rejected"} 1');
    expect(metrics).toContain('edaflow_http_commands_total{command="ConfirmOrder",outcome="rejected"} 1');
  });

  it('answers 400 with the JSON pointer, 404 for an unknown command, and refuses ?wait on a queued command', async () => {
    const invalid = await post('/commands/CreateOrder', { data: { ...exampleOrder('o-bad'), items: [] } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatchObject({ code: 'EDA_PAYLOAD_INVALID', details: { pointer: '/items' } });
    const unwrapped = await post('/commands/ConfirmOrder', { orderId: 'o-1' });
    expect(unwrapped.status).toBe(400);
    expect(unwrapped.body.error.message).toContain('`data`');
    const unknown = await post('/commands/ShipEverything', { data: {} });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('EDA_UNKNOWN_TYPE');
    const queued = await post('/commands/CreateShipment?wait=true', { data: { orderId: 'o-1' } });
    expect(queued.status).toBe(400);
    expect(queued.body.error).toMatchObject({ code: 'EDA_REQUEST_INVALID' });
  });

  it('checks roles against the bearer token: 401 without or with a bad token, 403 without the role', async () => {
    const cancel = { data: { orderId, reason: 'x' } };
    const anonymous = await post('/commands/CancelOrder', cancel);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="edaflow"');
    expect(anonymous.body.error.code).toBe('EDA_UNAUTHENTICATED');

    const forged = await post('/commands/CancelOrder', cancel, { authorization: `Bearer ${await token('agent-7', ['support'], 'another-secret')}` });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toBe('Bearer realm="edaflow", error="invalid_token"');

    const customer = await post('/commands/CancelOrder', cancel, { authorization: `Bearer ${await token('c-42', ['customer'])}` });
    expect(customer.status).toBe(403);
    expect(customer.body.error).toMatchObject({ code: 'EDA_FORBIDDEN', details: { required: ['support'] } });
    expect(customer.headers.get('www-authenticate')).toContain('insufficient_scope');
  });

  it('honours Idempotency-Key as Stripe does: the same request replays the first response, another body is 422', async () => {
    const key = randomUUID();
    const other = `o-${randomUUID().slice(0, 8)}`;
    const first = await post('/commands/CreateOrder?wait=true', { data: exampleOrder(other) }, { 'idempotency-key': key });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ streamId: other, version: 1 });
    expect(first.headers.get('idempotent-replayed')).toBeNull();

    // The same body with its keys in another order is the same request.
    const { orderId: id, ...rest } = exampleOrder(other);
    const replay = await post('/commands/CreateOrder?wait=true', { data: { ...rest, orderId: id } }, { 'idempotency-key': key });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    const changed = await post('/commands/CreateOrder?wait=true', { data: exampleOrder(`${other}-x`) }, { 'idempotency-key': key });
    expect(changed.status).toBe(422);
    expect(changed.body.error.code).toBe('EDA_IDEMPOTENCY_MISMATCH');

    // Without the key, the same command is decided again, and the aggregate refuses it.
    const duplicate = await post('/commands/CreateOrder?wait=true', { data: exampleOrder(other) });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error.message).toBe('Order already exists');

    // A rejection is a response like any other: stored and replayed.
    const rejectedKey = randomUUID();
    const rejected = await post('/commands/CreateOrder', { data: exampleOrder(other) }, { 'idempotency-key': rejectedKey });
    const rejectedAgain = await post('/commands/CreateOrder', { data: exampleOrder(other) }, { 'idempotency-key': rejectedKey });
    expect([rejected.status, rejectedAgain.status]).toEqual([409, 409]);
    expect(rejectedAgain.headers.get('idempotent-replayed')).toBe('true');

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/edaflow_http_commands_total\{command="CreateOrder",outcome="replayed"\} 2/);
  });

  it('answers queries: 404 for a missing row or an unknown query, 400 for a missing parameter', async () => {
    const missing = await get('/queries/orderById?id=o-does-not-exist');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('EDA_NOT_FOUND');
    expect((await get('/queries/noSuchQuery')).status).toBe(404);
    const noParameter = await get('/queries/orderById');
    expect(noParameter.status).toBe(400);
    expect(noParameter.body.error.code).toBe('EDA_QUERY_INVALID');
    const list = await get('/queries/ordersByCustomer?customerId=c-42');
    expect(list.status).toBe(200);
    expect((list.body as { id: string }[]).map((row) => row.id)).toContain(orderId);
  });

  it('stops cleanly on SIGTERM', async () => {
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});

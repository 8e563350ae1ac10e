import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/host/runtime.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { waitFor } from '../helpers/process.js';
import { POSTGRES_URL, postJson, startTestApp, type TestApp } from '../helpers/test-app.js';

// Roles on queries as on commands (one `authorize`), and the audit trail: one info line with
// `audit: true` per command, whoever sent it: an HTTP caller (its subject, or `anonymous` on a route
// without roles) or the runtime itself (`system`: a handler's command executed from a queue).
const definitions = (schema: string) => `
brokers: { local: { type: memory } }
stores: { database: { type: postgres, url: "${POSTGRES_URL}", schema: ${schema} } }
defaults: { source: authz-test }
topics: { accounts: {} }
queues: { account-commands: {} }
events:
  Opened: { topic: accounts, versions: { 1: { schema: { type: object, required: [accountId], properties: { accountId: { type: string } } } } } }
  Stamped: { topic: accounts, versions: { 1: { schema: { type: object, required: [accountId], properties: { accountId: { type: string } } } } } }
commands:
  Open:
    roles: [teller]
    schema: { type: object, required: [accountId], properties: { accountId: { type: string } } }
  Ping: { schema: { type: object } }
  Stamp: { queue: account-commands, schema: { type: object, required: [accountId], properties: { accountId: { type: string } } } }
aggregates:
  Account:
    streamId: command.accountId
    initial: { open: false }
    evolve: { Opened: { open: true }, Stamped: { stamped: true } }
    handle:
      Open: { when: "state.open = false", reject: Already open, emit: Opened }
      Stamp: { when: "state.open = true and $not(state.stamped = true)", reject: Cannot stamp, emit: Stamped }
handlers:
  stamp: { on: [Opened], sends: [Stamp] }
  ping: { on: Ping }
projections:
  AccountView:
    table: account_view
    key: [id]
    columns: { id: text, status: text }
    on:
      Opened: { upsert: { id: "{% subject %}", status: open } }
      Stamped: { update: { status: stamped }, where: { id: "{% subject %}" } }
queries:
  accountById: { projection: AccountView, where: { id: "{% params.id %}" }, single: true, roles: [auditor] }
  openAccount: { projection: AccountView, where: { id: "{% params.id %}" }, single: true }
`;

// x-user: "name:role,role" — the handlers module's verifier (a deployment's would check a token or mTLS).
const HANDLERS = `
export default {
  async stamp(message, context) { await context.send('Stamp', { accountId: message.data.accountId }); },
  async ping() {},
};
export function authenticate(request) {
  const header = request.headers['x-user'];
  if (typeof header !== 'string') return undefined;
  const [subject, roles = ''] = header.split(':');
  return { subject, roles: roles.split(',').filter(Boolean) };
}
`;

const lines: Record<string, unknown>[] = [];
let app: TestApp | undefined;
let runtime: Runtime;

beforeAll(async () => {
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  app = await startTestApp({ name: 'authz', definitions, handlers: HANDLERS, logger });
  runtime = app.runtime;
}, 60_000);

afterAll(async () => {
  await app?.stop();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) => postJson(runtime.url, path, body, headers);

const audit = (command: string) => lines.filter((line) => line['audit'] === true && line['command'] === command);

describe('authorization and audit', () => {
  it('checks a query`s roles as a command`s: 401 without credentials, 403 without the role, the row with it; a query without roles is open', async () => {
    const accountId = `a-${randomUUID().slice(0, 8)}`;
    expect((await post('/commands/Open?wait=true', { data: { accountId } }, { 'x-user': 'tom:teller' })).status).toBe(200);
    const query = (name: string, user?: string) => fetch(`${runtime.url}/queries/${name}?id=${accountId}`, { headers: user ? { 'x-user': user } : {} });
    const anonymous = await query('accountById');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="edaflow"');
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('EDA_UNAUTHENTICATED');
    const teller = await query('accountById', 'tom:teller');
    expect(teller.status).toBe(403);
    expect(((await teller.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'EDA_FORBIDDEN', message: 'tom has none of the roles this route needs: auditor' });
    const row = await waitFor(async () => {
      const response = await query('accountById', 'ida:auditor');
      return response.status === 200 ? ((await response.json()) as Record<string, unknown>) : undefined;
    }, 10_000, () => JSON.stringify(lines.filter((line) => line['level'] !== 'info')));
    expect(row).toMatchObject({ id: accountId });
    expect((await query('openAccount')).status).toBe(200);
  });

  it('writes one audit line per HTTP command: who, which, its id and what became of it', async () => {
    const accountId = `a-${randomUUID().slice(0, 8)}`;
    const before = audit('Open').length;
    expect((await post('/commands/Open', { data: { accountId } })).status).toBe(401);
    expect((await post('/commands/Open', { data: { accountId } }, { 'x-user': 'bob:viewer' })).status).toBe(403);
    const opened = await post('/commands/Open?wait=true', { data: { accountId } }, { 'x-user': 'ann:teller' });
    expect(opened.status).toBe(200);
    const again = await post('/commands/Open?wait=true', { data: { accountId } }, { 'x-user': 'ann:teller' });
    expect(again.status).toBe(409);
    const pinged = await post('/commands/Ping', { data: {} });
    expect(pinged.status).toBe(202);

    expect(audit('Open').slice(before)).toEqual([
      expect.objectContaining({ level: 'info', msg: 'command', user: 'anonymous', id: null, outcome: 'unauthenticated', status: 401, via: 'http' }),
      expect.objectContaining({ user: 'bob', id: null, outcome: 'forbidden', status: 403, via: 'http' }),
      expect.objectContaining({ user: 'ann', id: opened.body['id'], outcome: 'completed', status: 200, streamId: accountId, version: 1, via: 'http' }),
      expect.objectContaining({ user: 'ann', id: expect.any(String), outcome: 'rejected', status: 409, code: 'EDA_COMMAND_REJECTED', via: 'http' }),
    ]);
    // The command bus ran `Open` for the API, which wrote its line: none of the bus's own.
    expect(audit('Open').filter((line) => line['via'] === 'bus')).toEqual([]);
    expect(audit('Ping').filter((line) => line['id'] === pinged.body['id'])).toEqual([expect.objectContaining({ user: 'anonymous', outcome: 'accepted', status: 202 })]);
  });

  it('audits a command the runtime executes from a queue as `system`, with its outcome', async () => {
    const accountId = `a-${randomUUID().slice(0, 8)}`;
    expect((await post('/commands/Open?wait=true', { data: { accountId } }, { 'x-user': 'ann:teller' })).status).toBe(200);
    const stamped = await waitFor(async () => audit('Stamp').find((line) => line['streamId'] === accountId), 10_000);
    expect(stamped).toMatchObject({ level: 'info', msg: 'command', user: 'system', outcome: 'completed', via: 'bus', version: 2, id: expect.any(String) });

    // Sent again (the same command from outside the HTTP API), the aggregate refuses it: audited as rejected.
    const refused = runtime.publisher.envelopeOf('Stamp', { accountId });
    await expect(runtime.commandBus.execute(refused)).rejects.toMatchObject({ code: 'EDA_COMMAND_REJECTED' });
    expect(audit('Stamp').filter((line) => line['id'] === refused.id)).toEqual([expect.objectContaining({ user: 'system', outcome: 'rejected', code: 'EDA_COMMAND_REJECTED', via: 'bus' })]);
  });
});

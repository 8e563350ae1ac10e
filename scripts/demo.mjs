#!/usr/bin/env node
// `npm start`: runs the example (definitions/) on the embedded database and walks one order through the
// HTTP API — create → the fulfilment saga confirms it → cancel → a second cancel refused with 409 → the
// orderById query — printing
// each request and response. Then the server keeps running (Ctrl-C stops it); with --exit it stops.
//
//   node scripts/demo.mjs [--port 3000] [--exit]
//
// EDAFLOW_DATA_DIR picks the database directory (default .edaflow/db). CancelOrder needs the `support`
// role: the demo signs a bearer token with EDAFLOW_JWT_SECRET, generating a secret for this run if unset.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { exampleOrder } from './example-order.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { port: { type: 'string', default: process.env.PORT ?? '3000' }, exit: { type: 'boolean', default: false } } });
const base = `http://127.0.0.1:${args.port}`;
const secret = process.env.EDAFLOW_JWT_SECRET || randomBytes(32).toString('base64url');
const dataDir = process.env.EDAFLOW_DATA_DIR || '.edaflow/db';
const MAX_SHOWN = 160;

/** The server, in its own process group so that Ctrl-C reaches it once, through us. */
function startServer() {
  const child = spawn(process.execPath, [join(root, 'bin/edaflow.js'), 'run', 'definitions', '--handlers', 'definitions/handlers/index.ts', '--port', args.port], {
    cwd: root,
    env: { ...process.env, EDAFLOW_JWT_SECRET: secret, EDAFLOW_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  // Its JSON logs are held back while the demo prints (shown if it fails), then streamed from there on.
  const held = [];
  let streaming = false;
  const forward = (target) => (chunk) => (streaming ? target.write(chunk) : held.push(chunk));
  child.stdout.on('data', forward(process.stdout));
  child.stderr.on('data', forward(process.stderr));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  // Detached, it would outlive us if we died some other way than through stop().
  process.on('exit', () => child.exitCode === null && child.signalCode === null && child.kill('SIGTERM'));
  return {
    child,
    exited,
    stream() {
      streaming = true;
      held.length = 0;
    },
    heldLogs: () => Buffer.concat(held).toString(),
  };
}

async function waitForReady(server, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let stopped = false;
  void server.exited.then(() => (stopped = true));
  while (Date.now() < deadline && !stopped) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(stopped ? 'the server stopped while starting' : `the server was not ready after ${timeoutMs / 1000} s`);
}

/** Request bodies shortened to a line; responses are shown whole (they are what the demo is about). */
function compact(value) {
  const text = JSON.stringify(value);
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}

async function call(method, path, { body, token, label } = {}) {
  const headers = { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) };
  console.log(`→ ${method} ${path}${token ? `  (Authorization: Bearer <${label}>)` : ''}${body ? `  ${compact(body)}` : ''}`);
  const response = await fetch(`${base}${path}`, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await response.text();
  console.log(`← ${response.status} ${text}`);
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

function expectStatus(result, status, what) {
  if (result.status !== status) throw new Error(`${what}: expected ${status}, got ${result.status}`);
}

async function walkOneOrder() {
  const orderId = `o-${Date.now().toString(36)}`;
  const supportToken = await new SignJWT({ roles: ['support'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('demo-support-agent').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(secret));
  const order = exampleOrder(orderId);
  const cancel = { data: { orderId, reason: 'Customer changed their mind' } };

  expectStatus(await call('POST', '/commands/CreateOrder', { body: { data: order } }), 202, 'CreateOrder');
  // No ConfirmOrder from us: the OrderFulfillment saga reserves the stock, charges the card, books the
  // shipment and then sends ConfirmOrder itself. Wait quietly for the summary to say so.
  console.log('… the OrderFulfillment saga reserves inventory, charges the payment, ships, and confirms the order');
  await waitForStatus(orderId, 'confirmed', 60_000);
  expectStatus(await call('GET', `/queries/orderById?id=${orderId}`), 200, 'orderById');
  expectStatus(await call('POST', '/commands/CancelOrder?wait=true', { body: cancel, token: supportToken, label: 'support token' }), 200, 'CancelOrder');
  expectStatus(await call('POST', '/commands/CancelOrder?wait=true', { body: cancel, token: supportToken, label: 'support token' }), 409, 'the second CancelOrder');
  // The summary is a projection, updated right after the events commit: wait for it to catch up quietly.
  await waitForStatus(orderId, 'cancelled', 10_000);
  expectStatus(await call('GET', `/queries/orderById?id=${orderId}`), 200, 'orderById');
  return { orderId, supportToken };
}

/** Polls the orderById query until the order has `status`; fails the demo with the last answer after `timeoutMs`. */
async function waitForStatus(orderId, status, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let summary;
  while (Date.now() < deadline) {
    summary = await fetch(`${base}/queries/orderById?id=${orderId}`).then(async (response) => (response.ok ? response.json() : undefined));
    if (summary?.status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`order ${orderId} did not become ${status} within ${timeoutMs / 1000} s (last summary: ${JSON.stringify(summary)})`);
}

async function main() {
  console.log(`edaflow demo: starting \`edaflow run definitions\` on ${base} (embedded database in ${dataDir}; the first start creates it, ~15 s)`);
  const server = startServer();
  let signalled = false;
  const stop = (signal) => {
    if (signalled) return;
    signalled = true;
    server.child.kill(signal);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    const started = Date.now();
    await waitForReady(server, 120_000);
    console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    const { orderId, supportToken } = await walkOneOrder();
    if (args.exit) {
      stop('SIGTERM');
      process.exitCode = await server.exited;
      return;
    }
    console.log(`\nThe server keeps running at ${base} (Ctrl-C stops it); its JSON logs follow. Try:`);
    console.log(`  curl -s '${base}/queries/orderById?id=${orderId}'`);
    console.log(`  curl -s ${base}/metrics | grep edaflow_http_commands_total`);
    console.log(`  support token (1 h): ${supportToken}\n`);
    server.stream();
    process.exitCode = await server.exited;
  } catch (error) {
    process.stderr.write(server.heldLogs());
    console.error(`\nedaflow demo failed: ${error.message}`);
    stop('SIGTERM');
    await server.exited;
    process.exitCode = 1;
  }
}

await main();

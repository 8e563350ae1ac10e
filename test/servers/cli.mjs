#!/usr/bin/env node
// Test servers by hand:
//   node test/servers/cli.mjs up [kafka sqs postgres redis rabbitmq nats]   (default: all)
//   node test/servers/cli.mjs status
//   node test/servers/cli.mjs down [kafka sqs]      stops the ones this project started (pid file)
//   node test/servers/cli.mjs reset [kafka sqs]     down, then delete their data (Kafka topics)
// Exit code 1 when a server could not be had.

import {
  CACHE_DIR,
  SERVER_NAMES,
  ensureServer,
  serverStatus,
  stopServer,
} from './servers.mjs';

const MANAGED = /** @type {const} */ (['kafka', 'sqs']);

/** @param {string[][]} rows */
function table(rows) {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd());
}

/** @param {string[]} names @param {readonly string[]} allowed */
function checkNames(names, allowed) {
  const bad = names.filter((n) => !allowed.includes(n));
  if (bad.length) {
    console.error(`unknown server(s): ${bad.join(', ')} (choose from: ${allowed.join(', ')})`);
    process.exit(2);
  }
}

async function up(/** @type {string[]} */ names) {
  const list = /** @type {import('./servers.mjs').ServerName[]} */ (names.length ? names : SERVER_NAMES);
  checkNames(list, SERVER_NAMES);
  const results = await Promise.allSettled(list.map((n) => ensureServer(n)));
  const rows = [['server', 'address', 'status']];
  /** @type {string[]} */
  const errors = [];
  results.forEach((r, i) => {
    const name = list[i] ?? '?';
    if (r.status === 'fulfilled') {
      const v = r.value;
      rows.push([name, v.address, `${v.status} (${(v.ms / 1000).toFixed(1)} s)`]);
    } else {
      const msg = r.reason instanceof Error ? r.reason.message : String(r.reason);
      rows.push([name, '-', `FAILED: ${(msg.split('\n')[0] ?? '').slice(0, 100)}`]);
      errors.push(msg);
    }
  });
  table(rows);
  if (errors.length) {
    console.error('\n' + errors.join('\n\n'));
    process.exitCode = 1;
  }
}

async function status() {
  const all = await Promise.all(SERVER_NAMES.map((n) => serverStatus(n)));
  const rows = [['server', 'address', 'status', 'detail']];
  for (const s of all) {
    rows.push([s.name, s.address, s.up ? 'up' : 'down', `${s.detail}${s.ours ? ` (started by this project, pid ${s.pid})` : ''}`]);
  }
  table(rows);
  console.log(`\ncache: ${CACHE_DIR}`);
}

async function down(/** @type {string[]} */ names, wipe = false) {
  const list = /** @type {('kafka'|'sqs')[]} */ (names.length ? names : [...MANAGED]);
  checkNames(list, MANAGED);
  const results = await Promise.all(list.map((n) => stopServer(n, { wipe })));
  table([['server', 'result'], ...list.map((n, i) => [n, results[i] + (wipe ? ', data deleted' : '')])]);
}

const [cmd, ...rest] = process.argv.slice(2);
switch (cmd) {
  case 'up':
    await up(rest);
    break;
  case 'status':
    await status();
    break;
  case 'down':
    await down(rest);
    break;
  case 'reset':
    await down(rest, true);
    break;
  default:
    console.error('usage: node test/servers/cli.mjs up [name...] | down [kafka|sqs...] | reset [kafka|sqs...] | status');
    console.error(`servers: ${SERVER_NAMES.join(', ')}`);
    process.exit(2);
}

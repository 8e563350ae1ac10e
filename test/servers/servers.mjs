// Test-server infrastructure for edaflow's test suite (no Docker on these machines).
//
//   import { ensureServers } from '../servers/servers.mjs';
//   const s = await ensureServers(['kafka', 'sqs', 'postgres']);
//   s.kafka.brokers  // ['127.0.0.1:9092']
//   s.sqs.endpoint   // 'http://127.0.0.1:9324'
//
// PostgreSQL, Redis, RabbitMQ and NATS are machine services: they are checked at the protocol level
// and, when down, started with the machine's own start commands. Kafka and ElasticMQ (SQS) are run by
// the project from Maven Central jars cached in <repo>/.cache/servers/, as detached background
// processes that outlive the test run (a pid file lets `node test/servers/cli.mjs down` stop them).
//
// Node built-ins only.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Repository root (two levels above this file). */
export const REPO_ROOT = path.resolve(HERE, '..', '..');

/** Where the jars, data and logs of the project-run servers live (ignored by git via `.cache/`). */
export const CACHE_DIR = process.env.EDAFLOW_SERVERS_CACHE
  ? path.resolve(process.env.EDAFLOW_SERVERS_CACHE)
  : path.join(REPO_ROOT, '.cache', 'servers');

const HOST = '127.0.0.1';
const POLL_MS = 200;

/**
 * @typedef {'postgres'|'redis'|'rabbitmq'|'nats'|'kafka'|'sqs'} ServerName
 *
 * @typedef {object} ServerInfo
 * @property {ServerName} name
 * @property {string} host
 * @property {number} port
 * @property {string} address           e.g. "127.0.0.1:9092"
 * @property {string} url               connection URL (postgres://, redis://, amqp://, nats://, kafka://, http://)
 * @property {'reused'|'started'} status reused: it was already up; started: this call started it
 * @property {number} ms                time this call spent on the server
 * @property {string[]} [brokers]       kafka only
 * @property {string} [endpoint]        sqs only
 * @property {string} [region]          sqs only
 * @property {string} [accountId]       sqs only
 *
 * @typedef {object} EnsureOptions
 * @property {(line: string) => void} [log]  progress lines (default: written to stderr)
 * @property {number} [timeoutMs]       readiness deadline after a start (default per server: 30-180 s)
 * @property {number} [fetchTimeoutMs]  deadline for the first maven fetch of jars (default 15 min)
 * @property {boolean} [start]          false: only check, never start (default true)
 *
 * @typedef {{ ok: true, detail?: string } | { ok: false, reason: string }} Probe
 */

// ---------------------------------------------------------------------------------------------
// Server table
// ---------------------------------------------------------------------------------------------

/**
 * @typedef {object} SystemSpec
 * @property {'system'} kind
 * @property {number} port
 * @property {string} url
 * @property {() => Promise<Probe>} probe
 * @property {string} startCommand   shell command from the machine notes
 * @property {string} logHint        where the service logs
 * @property {number} timeoutMs
 */

/** @type {Record<'postgres'|'redis'|'rabbitmq'|'nats', SystemSpec>} */
const SYSTEM = {
  postgres: {
    kind: 'system',
    port: 5432,
    url: `postgres://postgres@${HOST}:5432/test`,
    probe: () => probePostgres(HOST, 5432),
    startCommand: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
    logHint: '/var/log/postgresql/',
    timeoutMs: 30_000,
  },
  redis: {
    kind: 'system',
    port: 6379,
    url: `redis://${HOST}:6379`,
    probe: () => probeRedis(HOST, 6379),
    startCommand:
      'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
    logHint: '/var/log/redis/ci.log',
    timeoutMs: 20_000,
  },
  rabbitmq: {
    kind: 'system',
    port: 5672,
    url: `amqp://guest:guest@${HOST}:5672`,
    probe: () => probeAmqp(HOST, 5672),
    startCommand: 'rabbitmq-server -detached',
    logHint: '/var/log/rabbitmq/',
    timeoutMs: 120_000,
  },
  nats: {
    kind: 'system',
    port: 4222,
    url: `nats://${HOST}:4222`,
    probe: () => probeNats(HOST, 4222),
    startCommand:
      'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log',
    logHint: '/var/log/nats-server.log',
    timeoutMs: 20_000,
  },
};

/**
 * @typedef {object} ManagedSpec
 * @property {'managed'} kind
 * @property {string} label          human name ("Kafka", "ElasticMQ")
 * @property {string} dirName        folder under CACHE_DIR
 * @property {number} port
 * @property {string} url
 * @property {string} pom            pom.xml fetching the jars
 * @property {string} mainClass
 * @property {string} pidMarker      string that must be in the pid's command line for it to be ours
 * @property {() => Promise<Probe>} probe
 * @property {(dir: string, java: string, log: (l: string) => void) => Promise<string[]>} prepare
 *           writes config (and formats storage); returns the JVM arguments
 * @property {string} logFile        main log, relative to the server's cache folder
 * @property {number} timeoutMs
 * @property {Partial<ServerInfo>} extra
 */

/** @type {Record<'kafka'|'sqs', ManagedSpec>} */
const MANAGED = {
  kafka: {
    kind: 'managed',
    label: 'Kafka',
    dirName: 'kafka',
    port: 9092,
    url: `kafka://${HOST}:9092`,
    pom: path.join(HERE, 'kafka', 'pom.xml'),
    mainClass: 'kafka.Kafka',
    pidMarker: 'kafka.Kafka',
    probe: () => probeKafka(HOST, 9092),
    prepare: prepareKafka,
    logFile: 'logs/server.log',
    timeoutMs: 180_000,
    extra: { brokers: [`${HOST}:9092`] },
  },
  sqs: {
    kind: 'managed',
    label: 'ElasticMQ',
    dirName: 'elasticmq',
    port: 9324,
    url: `http://${HOST}:9324`,
    pom: path.join(HERE, 'elasticmq', 'pom.xml'),
    mainClass: 'org.elasticmq.server.Main',
    pidMarker: 'org.elasticmq.server.Main',
    probe: () => probeSqs(HOST, 9324),
    prepare: prepareElasticMq,
    logFile: 'elasticmq.out',
    timeoutMs: 90_000,
    extra: { endpoint: `http://${HOST}:9324`, region: 'us-east-1', accountId: '000000000000' },
  },
};

/** All server names, in a stable order. */
export const SERVER_NAMES = /** @type {ServerName[]} */ ([
  'postgres',
  'redis',
  'rabbitmq',
  'nats',
  'kafka',
  'sqs',
]);

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/**
 * Makes sure every named server is up and answering, starting those that are down.
 * Servers are handled in parallel. Throws one Error naming every server that could not be had.
 *
 * @param {ServerName[]} names
 * @param {EnsureOptions} [opts]
 * @returns {Promise<Record<string, ServerInfo>>}
 */
export async function ensureServers(names, opts = {}) {
  const results = await Promise.allSettled(names.map((n) => ensureServer(n, opts)));
  /** @type {Record<string, ServerInfo>} */
  const out = {};
  /** @type {string[]} */
  const errors = [];
  results.forEach((r) => {
    if (r.status === 'fulfilled') out[r.value.name] = r.value;
    else errors.push(r.reason instanceof Error ? r.reason.message : String(r.reason));
  });
  if (errors.length) throw new Error(errors.join('\n\n'));
  return out;
}

/**
 * One server; see ensureServers.
 * @param {ServerName} name
 * @param {EnsureOptions} [opts]
 * @returns {Promise<ServerInfo>}
 */
export async function ensureServer(name, opts = {}) {
  const t0 = Date.now();
  const log = opts.log ?? ((line) => process.stderr.write(`[servers] ${line}\n`));
  if (name in SYSTEM) {
    const spec = SYSTEM[/** @type {keyof typeof SYSTEM} */ (name)];
    const status = await ensureSystem(name, spec, opts, log);
    return info(name, spec, status, Date.now() - t0);
  }
  if (name in MANAGED) {
    const spec = MANAGED[/** @type {keyof typeof MANAGED} */ (name)];
    const status = await ensureManaged(name, spec, opts, log);
    return info(name, spec, status, Date.now() - t0);
  }
  throw new Error(`unknown test server "${name}" (known: ${SERVER_NAMES.join(', ')})`);
}

/**
 * Checks a server without starting anything.
 * @param {ServerName} name
 * @returns {Promise<{ name: ServerName, address: string, up: boolean, detail: string, pid?: number, ours?: boolean }>}
 */
export async function serverStatus(name) {
  const spec = specOf(name);
  const probe = await spec.probe();
  const res = {
    name,
    address: `${HOST}:${spec.port}`,
    up: probe.ok,
    detail: probe.ok ? (probe.detail ?? 'ready') : probe.reason,
  };
  if (spec.kind === 'managed') {
    const pid = ourPid(spec);
    if (pid) Object.assign(res, { pid, ours: true });
  }
  return res;
}

/**
 * Stops a project-run server (kafka or sqs) that this project started (found through its pid file).
 * @param {'kafka'|'sqs'} name
 * @param {{ timeoutMs?: number, wipe?: boolean }} [opts] wipe: also delete its data (Kafka's log dirs)
 * @returns {Promise<'stopped'|'not running'|'killed'>}
 */
export async function stopServer(name, opts = {}) {
  const spec = MANAGED[name];
  if (!spec) throw new Error(`only ${Object.keys(MANAGED).join(' and ')} can be stopped (got "${name}")`);
  const dir = path.join(CACHE_DIR, spec.dirName);
  const pid = ourPid(spec);
  /** @type {'stopped'|'not running'|'killed'} */
  let result = 'not running';
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    while (alive(pid) && Date.now() < deadline) await delay(POLL_MS);
    if (alive(pid)) {
      process.kill(pid, 'SIGKILL');
      while (alive(pid)) await delay(50);
      result = 'killed';
    } else {
      result = 'stopped';
    }
  }
  fs.rmSync(path.join(dir, `${spec.dirName}.pid`), { force: true });
  if (opts.wipe) fs.rmSync(path.join(dir, 'data'), { recursive: true, force: true });
  return result;
}

// ---------------------------------------------------------------------------------------------
// System services
// ---------------------------------------------------------------------------------------------

/**
 * @param {string} name
 * @param {SystemSpec} spec
 * @param {EnsureOptions} opts
 * @param {(l: string) => void} log
 * @returns {Promise<'reused'|'started'>}
 */
async function ensureSystem(name, spec, opts, log) {
  const first = await spec.probe();
  if (first.ok) return 'reused';
  const byHand = `start it by hand with: ${spec.startCommand}`;
  if (opts.start === false) {
    throw new Error(`${name}: not ready on ${HOST}:${spec.port} (${first.reason}); ${byHand}`);
  }
  // A server that is merely starting (port open, not ready yet) gets a few seconds before we run
  // the start command, which is harmless anyway (--oknodo, pg_ctlcluster says "already running").
  if (!/ECONNREFUSED/.test(first.reason)) {
    const early = await pollReady(spec.probe, Date.now() + 5_000);
    if (early.ok) return 'reused';
  }
  log(`${name} is down on ${HOST}:${spec.port} (${first.reason}); starting it: ${spec.startCommand}`);
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const startLog = path.join(CACHE_DIR, `${name}-start.log`);
  const run = await runToFile('sh', ['-c', spec.startCommand], startLog, 60_000);
  if (run.code !== 0) {
    // Could be "already running/starting" on some services; readiness below decides.
    log(`${name}: start command exited with ${run.code ?? run.signal}; waiting for readiness anyway`);
  }
  const timeoutMs = opts.timeoutMs ?? spec.timeoutMs;
  const ready = await pollReady(spec.probe, Date.now() + timeoutMs);
  if (ready.ok) return 'started';
  throw new Error(
    `${name}: not ready on ${HOST}:${spec.port} ${Math.round(timeoutMs / 1000)} s after running its start command ` +
      `(last check: ${ready.reason}; start command exit: ${run.code ?? run.signal}). ` +
      `Start command output: ${startLog}. Server log: ${spec.logHint}. ${byHand}${tailOf(startLog)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Project-run servers (Kafka, ElasticMQ)
// ---------------------------------------------------------------------------------------------

/**
 * @param {string} name
 * @param {ManagedSpec} spec
 * @param {EnsureOptions} opts
 * @param {(l: string) => void} log
 * @returns {Promise<'reused'|'started'>}
 */
async function ensureManaged(name, spec, opts, log) {
  const dir = path.join(CACHE_DIR, spec.dirName);
  const logPath = path.join(dir, spec.logFile);
  const cli = path.relative(process.cwd(), path.join(HERE, 'cli.mjs'));
  const byHand =
    `Start it by hand with: node ${cli} up ${name} ` +
    `(it fetches the jars with: mvn -f ${spec.pom} dependency:copy-dependencies -DoutputDirectory=${path.join(dir, 'libs')}, ` +
    `then runs the java command it writes to ${path.join(dir, 'command.txt')})`;
  const fail = (/** @type {string} */ what, /** @type {string} */ logFile = logPath) =>
    new Error(`${name} (${spec.label}): ${what}. Log: ${logFile}. ${byHand}${tailOf(logFile)}`);

  const first = await spec.probe();
  if (first.ok) return 'reused';
  if (opts.start === false) throw fail(`not ready on ${HOST}:${spec.port} (${first.reason})`);

  fs.mkdirSync(dir, { recursive: true });
  const timeoutMs = opts.timeoutMs ?? spec.timeoutMs;
  const lockPath = path.join(dir, 'start.lock');

  // Only one process (e.g. one of several vitest workers) fetches and starts; others wait.
  for (;;) {
    if (tryLock(lockPath)) break;
    const deadline = Date.now() + (opts.fetchTimeoutMs ?? 15 * 60_000) + timeoutMs;
    log(`${name}: another process is starting ${spec.label} (${lockPath}); waiting`);
    while (fs.existsSync(lockPath) && Date.now() < deadline) {
      if ((await spec.probe()).ok) return 'reused';
      if (!lockHolderAlive(lockPath)) fs.rmSync(lockPath, { force: true });
      await delay(500);
    }
    if ((await spec.probe()).ok) return 'reused';
    if (Date.now() >= deadline) throw fail(`timed out waiting for another process that holds ${lockPath}`);
  }

  try {
    const again = await spec.probe();
    if (again.ok) return 'reused';

    // Something else holds the port but does not answer like the expected server.
    const existing = ourPid(spec);
    if (!existing && (await portOpen(HOST, spec.port))) {
      const ready = await pollReady(spec.probe, Date.now() + 10_000);
      if (ready.ok) return 'reused';
      throw fail(`port ${spec.port} is taken by a process that does not answer as ${spec.label} (${ready.reason})`);
    }

    let pid = existing;
    if (pid) {
      log(`${name}: our ${spec.label} (pid ${pid}) is running but not ready yet; waiting`);
    } else {
      const java = javaBin();
      await checkJava(java, name, fail);
      const libs = await ensureJars(name, spec, dir, opts, log, fail);
      const jvmArgs = await spec.prepare(dir, java, log);
      const outFile = path.join(dir, `${spec.dirName}.out`);
      const args = [...jvmArgs, '-cp', `${libs}${path.sep}*`, spec.mainClass, ...(name === 'kafka' ? [path.join(dir, 'server.properties')] : [])];
      log(`${name}: starting ${spec.label} on ${HOST}:${spec.port} (log ${logPath})`);
      pid = spawnDetached(java, args, outFile, dir);
      fs.writeFileSync(path.join(dir, `${spec.dirName}.pid`), `${pid}\n`);
      fs.writeFileSync(
        path.join(dir, 'command.txt'),
        [java, ...args].map((a) => (/[\s*$]/.test(a) ? `'${a}'` : a)).join(' ') + '\n',
      );
    }

    const deadline = Date.now() + timeoutMs;
    /** @type {Probe} */
    let last = { ok: false, reason: 'not checked yet' };
    while (Date.now() < deadline) {
      last = await spec.probe();
      if (last.ok) return 'started';
      if (!alive(pid)) {
        fs.rmSync(path.join(dir, `${spec.dirName}.pid`), { force: true });
        const out = path.join(dir, `${spec.dirName}.out`);
        throw fail(`the JVM (pid ${pid}) exited during startup; see also ${out}${tailOf(out)}`);
      }
      await delay(POLL_MS);
    }
    throw fail(
      `not ready ${Math.round(timeoutMs / 1000)} s after start (last check: ${last.reason}); ` +
        `the JVM (pid ${pid}) is left running, a later call waits for it; stop it with: node ${cli} down ${name}`,
    );
  } finally {
    fs.rmSync(lockPath, { force: true });
  }
}

/**
 * Fetches the server's jars with maven into <dir>/libs unless the pom is unchanged since last time.
 * @returns {Promise<string>} the libs folder
 */
async function ensureJars(
  /** @type {string} */ name,
  /** @type {ManagedSpec} */ spec,
  /** @type {string} */ dir,
  /** @type {EnsureOptions} */ opts,
  /** @type {(l: string) => void} */ log,
  /** @type {(what: string, logFile?: string) => Error} */ fail,
) {
  const libs = path.join(dir, 'libs');
  const stamp = path.join(libs, '.pom-sha256');
  const pomHash = createHash('sha256').update(fs.readFileSync(spec.pom)).digest('hex');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === pomHash) return libs;

  const tmp = path.join(dir, 'libs.tmp');
  const mvnLog = path.join(dir, 'mvn.log');
  fs.rmSync(tmp, { recursive: true, force: true });
  log(`fetching ${name} jars via maven… (${path.relative(REPO_ROOT, spec.pom)} → ${libs}; log ${mvnLog})`);
  const t0 = Date.now();
  const mvn = process.env.MVN ?? 'mvn';
  const run = await runToFile(
    mvn,
    ['-B', '-q', '-f', spec.pom, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`],
    mvnLog,
    opts.fetchTimeoutMs ?? 15 * 60_000,
    () => log(`…still fetching ${name} jars (${Math.round((Date.now() - t0) / 1000)} s)`),
  );
  if (run.error) throw fail(`could not run maven (${mvn}): ${run.error}; install it (apt-get install maven)`, mvnLog);
  if (run.timedOut) throw fail(`maven did not finish fetching jars within ${Math.round((opts.fetchTimeoutMs ?? 900_000) / 1000)} s`, mvnLog);
  if (run.code !== 0) throw fail(`maven failed (exit ${run.code ?? run.signal}) fetching jars from ${spec.pom}`, mvnLog);
  const count = fs.existsSync(tmp) ? fs.readdirSync(tmp).filter((f) => f.endsWith('.jar')).length : 0;
  if (!count) throw fail(`maven succeeded but copied no jars to ${tmp}`, mvnLog);
  fs.writeFileSync(path.join(tmp, '.pom-sha256'), `${pomHash}\n`);
  fs.rmSync(libs, { recursive: true, force: true });
  fs.renameSync(tmp, libs);
  log(`fetched ${count} ${name} jars in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return libs;
}

/** Kafka: server.properties, log4j2 config, storage format on first use. Returns JVM args. */
async function prepareKafka(/** @type {string} */ dir, /** @type {string} */ java, /** @type {(l: string) => void} */ log) {
  const dataDir = path.join(dir, 'data');
  const logsDir = path.join(dir, 'logs');
  fs.mkdirSync(logsDir, { recursive: true });
  const props = path.join(dir, 'server.properties');
  fs.writeFileSync(
    props,
    [
      '# Written by test/servers/servers.mjs on every start; edit that file, not this one.',
      'process.roles=broker,controller',
      'node.id=1',
      'controller.quorum.voters=1@127.0.0.1:9093',
      'listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093',
      'advertised.listeners=PLAINTEXT://127.0.0.1:9092',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name=PLAINTEXT',
      'controller.listener.names=CONTROLLER',
      `log.dirs=${dataDir}`,
      'num.partitions=1',
      'default.replication.factor=1',
      'min.insync.replicas=1',
      'auto.create.topics.enable=false',
      'delete.topic.enable=true',
      'group.initial.rebalance.delay.ms=0',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'share.coordinator.state.topic.num.partitions=1',
      'num.network.threads=2',
      'num.io.threads=2',
      'num.recovery.threads.per.data.dir=1',
      'background.threads=4',
      'log.retention.hours=24',
      'log.segment.bytes=16777216',
      '',
    ].join('\n'),
  );
  fs.copyFileSync(path.join(HERE, 'kafka', 'log4j2.properties'), path.join(dir, 'log4j2.properties'));
  const sysProps = [
    '-Djava.awt.headless=true',
    `-Dkafka.logs.dir=${logsDir}`,
    `-Dlog4j2.configurationFile=${path.join(dir, 'log4j2.properties')}`,
  ];
  const jvm = ['-Xms256m', '-Xmx512m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:+ExplicitGCInvokesConcurrent', ...sysProps];
  if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
    const clusterId = kafkaUuid();
    log(`kafka: formatting storage in ${dataDir} (cluster id ${clusterId})`);
    const formatLog = path.join(logsDir, 'format.log');
    const run = await runToFile(
      java,
      ['-Xmx256m', ...sysProps, '-cp', `${path.join(dir, 'libs')}${path.sep}*`, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props],
      formatLog,
      120_000,
    );
    if (run.code !== 0) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      throw new Error(
        `kafka (Kafka): formatting storage failed (kafka.tools.StorageTool exit ${run.code ?? run.signal ?? run.error}). ` +
          `Log: ${formatLog}${tailOf(formatLog)}. Start it by hand with: node test/servers/cli.mjs up kafka`,
      );
    }
  }
  return jvm;
}

/** ElasticMQ: JVM args (config lives in the repo). */
async function prepareElasticMq(/** @type {string} */ dir) {
  fs.copyFileSync(path.join(HERE, 'elasticmq', 'elasticmq.conf'), path.join(dir, 'elasticmq.conf'));
  return [
    '-Xms64m',
    '-Xmx256m',
    '-XX:+UseSerialGC',
    '-Djava.awt.headless=true',
    `-Dconfig.file=${path.join(dir, 'elasticmq.conf')}`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Protocol probes
// ---------------------------------------------------------------------------------------------

/**
 * Opens a TCP connection, optionally writes `send`, and feeds every chunk (accumulated) to `decide`
 * until it returns a verdict.
 * @param {string} host
 * @param {number} port
 * @param {Buffer | null} send
 * @param {(buf: Buffer) => Probe | undefined} decide
 * @param {number} [timeoutMs]
 * @returns {Promise<Probe>}
 */
function exchange(host, port, send, decide, timeoutMs = 2_000) {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const sock = net.connect({ host, port });
    const finish = (/** @type {Probe} */ p) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(p);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
    sock.on('connect', () => {
      if (send) sock.write(send);
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const verdict = decide(buf);
      if (verdict) finish(verdict);
    });
    sock.on('error', (e) => finish({ ok: false, reason: /** @type {any} */ (e).code ?? e.message }));
    sock.on('close', () => finish({ ok: false, reason: 'connection closed without an answer' }));
  });
}

/** @returns {Promise<boolean>} */
function portOpen(/** @type {string} */ host, /** @type {number} */ port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const t = setTimeout(() => (sock.destroy(), resolve(false)), 1_000);
    sock.on('connect', () => (clearTimeout(t), sock.destroy(), resolve(true)));
    sock.on('error', () => (clearTimeout(t), resolve(false)));
  });
}

/** Redis: PING → +PONG. */
function probeRedis(/** @type {string} */ host, /** @type {number} */ port) {
  return exchange(host, port, Buffer.from('*1\r\n$4\r\nPING\r\n'), (buf) => {
    const i = buf.indexOf('\r\n');
    if (i < 0) return undefined;
    const line = buf.subarray(0, i).toString();
    return line === '+PONG' ? { ok: true, detail: 'PONG' } : { ok: false, reason: `PING answered ${line}` };
  });
}

/** NATS: the server greets with an INFO line; JetStream must be on. */
function probeNats(/** @type {string} */ host, /** @type {number} */ port) {
  return exchange(host, port, null, (buf) => {
    const i = buf.indexOf('\r\n');
    if (i < 0) return undefined;
    const line = buf.subarray(0, i).toString();
    if (!line.startsWith('INFO ')) return { ok: false, reason: `unexpected greeting ${line.slice(0, 60)}` };
    try {
      const infoJson = JSON.parse(line.slice(5));
      const js = infoJson.jetstream ? ', JetStream' : ', no JetStream';
      return { ok: true, detail: `nats-server ${infoJson.version}${js}` };
    } catch {
      return { ok: true, detail: 'INFO' };
    }
  });
}

/** AMQP 0-9-1: after the protocol header the broker sends connection.start (class 10, method 10). */
function probeAmqp(/** @type {string} */ host, /** @type {number} */ port) {
  return exchange(host, port, Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]), (buf) => {
    if (buf.length >= 4 && buf.subarray(0, 4).toString() === 'AMQP') {
      return { ok: false, reason: `broker wants another AMQP version (${[...buf.subarray(4, 8)].join('.')})` };
    }
    if (buf.length < 11) return undefined;
    if (buf[0] === 1 && buf.readUInt16BE(7) === 10 && buf.readUInt16BE(9) === 10) {
      return { ok: true, detail: 'connection.start' };
    }
    return { ok: false, reason: `unexpected AMQP frame (type ${buf[0]})` };
  });
}

/**
 * PostgreSQL: a startup message as user postgres. Any authentication request or a normal error
 * means the server accepts connections; SQLSTATE 57P03 (cannot_connect_now) means it is starting.
 */
function probePostgres(/** @type {string} */ host, /** @type {number} */ port) {
  const params = Buffer.from('user\0postgres\0database\0postgres\0application_name\0edaflow-probe\0\0');
  const msg = Buffer.alloc(8 + params.length);
  msg.writeInt32BE(msg.length, 0);
  msg.writeInt32BE(196608, 4); // protocol 3.0
  params.copy(msg, 8);
  return exchange(host, port, msg, (buf) => {
    if (buf.length < 5) return undefined;
    const type = String.fromCharCode(buf.readUInt8(0));
    if (type === 'R') return { ok: true, detail: 'accepting connections' };
    if (type !== 'E') return { ok: false, reason: `unexpected message '${type}'` };
    const len = buf.readInt32BE(1);
    if (buf.length < 1 + len) return undefined;
    /** @type {Record<string, string>} */
    const fields = {};
    for (let i = 5; i < 1 + len && buf.readUInt8(i) !== 0; ) {
      const end = buf.indexOf(0, i + 1);
      if (end < 0) break;
      fields[String.fromCharCode(buf.readUInt8(i))] = buf.subarray(i + 1, end).toString();
      i = end + 1;
    }
    if (fields.C === '57P03') return { ok: false, reason: fields.M ?? 'starting up' };
    return { ok: true, detail: `accepting connections (${fields.M})` };
  });
}

/**
 * Kafka: ApiVersions v0, then a Metadata request (no topics) whose broker list must not be empty,
 * i.e. the broker has registered with the controller and can serve requests.
 */
async function probeKafka(/** @type {string} */ host, /** @type {number} */ port) {
  const clientId = Buffer.from('edaflow-probe');
  const request = (/** @type {number} */ apiKey, /** @type {number} */ version, /** @type {number} */ corr, /** @type {Buffer} */ body) => {
    const header = Buffer.alloc(10);
    header.writeInt16BE(apiKey, 0);
    header.writeInt16BE(version, 2);
    header.writeInt32BE(corr, 4);
    header.writeInt16BE(clientId.length, 8);
    const payload = Buffer.concat([header, clientId, body]);
    const size = Buffer.alloc(4);
    size.writeInt32BE(payload.length, 0);
    return Buffer.concat([size, payload]);
  };
  let metadataVersion = 0;
  let stage = 0;
  return await new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const sock = net.connect({ host, port });
    const finish = (/** @type {Probe} */ p) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(p);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `no answer within 3000 ms (stage ${stage})` }), 3_000);
    sock.on('connect', () => sock.write(request(18, 0, 1, Buffer.alloc(0))));
    sock.on('error', (e) => finish({ ok: false, reason: /** @type {any} */ (e).code ?? e.message }));
    sock.on('close', () => finish({ ok: false, reason: 'connection closed without an answer' }));
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4 || buf.length < 4 + buf.readInt32BE(0)) return;
      const frame = buf.subarray(4, 4 + buf.readInt32BE(0));
      buf = buf.subarray(4 + frame.length);
      try {
        if (stage === 0) {
          // ApiVersions v0 response: correlation id, error code, [api key, min, max]
          const error = frame.readInt16BE(4);
          if (error !== 0 && error !== 35) return finish({ ok: false, reason: `ApiVersions error code ${error}` });
          const n = frame.readInt32BE(6);
          /** @type {[number, number] | null} */
          let range = null;
          for (let i = 0; i < n; i++) {
            const o = 10 + i * 6;
            if (frame.readInt16BE(o) === 3) range = [frame.readInt16BE(o + 2), frame.readInt16BE(o + 4)];
          }
          // Metadata versions 1..8 share a simple non-flexible layout; prefer 4.
          if (!range || range[0] > 8 || range[1] < 1) return finish({ ok: true, detail: 'ApiVersions ok' });
          metadataVersion = Math.min(Math.max(4, range[0]), range[1]);
          const body = [Buffer.from([0, 0, 0, 0])]; // topics: empty array → no topic metadata
          if (metadataVersion >= 4) body.push(Buffer.from([0])); // allow_auto_topic_creation
          if (metadataVersion >= 8) body.push(Buffer.from([0, 0])); // include_*_authorized_operations
          stage = 1;
          sock.write(request(3, metadataVersion, 2, Buffer.concat(body)));
        } else {
          // Metadata response v1..v8: correlation id, [throttle (v3+)], brokers array
          const brokers = frame.readInt32BE(metadataVersion >= 3 ? 8 : 4);
          if (brokers > 0) return finish({ ok: true, detail: `${brokers} broker(s)` });
          return finish({ ok: false, reason: 'broker answers but has not registered yet' });
        }
      } catch (e) {
        finish({ ok: false, reason: `bad Kafka response: ${/** @type {Error} */ (e).message}` });
      }
    });
  });
}

/** ElasticMQ: GET /?Action=ListQueues → 200. */
function probeSqs(/** @type {string} */ host, /** @type {number} */ port) {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/?Action=ListQueues', timeout: 2_000, agent: false }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve(res.statusCode === 200 ? { ok: true, detail: 'ListQueues 200' } : { ok: false, reason: `ListQueues answered HTTP ${res.statusCode}` }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 2000 ms')));
    req.on('error', (e) => resolve({ ok: false, reason: /** @type {any} */ (e).code ?? e.message }));
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** @param {ServerName} name */
function specOf(name) {
  const spec = /** @type {any} */ (SYSTEM)[name] ?? /** @type {any} */ (MANAGED)[name];
  if (!spec) throw new Error(`unknown test server "${name}" (known: ${SERVER_NAMES.join(', ')})`);
  return /** @type {SystemSpec | ManagedSpec} */ (spec);
}

/**
 * @param {ServerName} name
 * @param {SystemSpec | ManagedSpec} spec
 * @param {'reused'|'started'} status
 * @param {number} ms
 * @returns {ServerInfo}
 */
function info(name, spec, status, ms) {
  return {
    name,
    host: HOST,
    port: spec.port,
    address: `${HOST}:${spec.port}`,
    url: spec.url,
    status,
    ms,
    ...(spec.kind === 'managed' ? spec.extra : {}),
  };
}

/** @param {() => Promise<Probe>} probe @param {number} deadline @returns {Promise<Probe>} */
async function pollReady(probe, deadline) {
  let last = await probe();
  while (!last.ok && Date.now() < deadline) {
    await delay(POLL_MS);
    last = await probe();
  }
  return last;
}

/** @param {number} ms */
function delay(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return /** @type {any} */ (e).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped by its parent) still answers kill(0).
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * The pid in the server's pid file, if that process is alive and is really our server.
 * @param {ManagedSpec} spec
 * @returns {number | null}
 */
function ourPid(spec) {
  const dir = path.join(CACHE_DIR, spec.dirName);
  let pid;
  try {
    pid = Number.parseInt(fs.readFileSync(path.join(dir, `${spec.dirName}.pid`), 'utf8'), 10);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return null;
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmd.includes(spec.pidMarker) || !cmd.includes(dir)) return null;
  } catch {
    // no /proc: trust the pid file
  }
  return pid;
}

/** @param {string} lockPath */
function tryLock(lockPath) {
  try {
    fs.writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (e) {
    if (/** @type {any} */ (e).code !== 'EEXIST') throw e;
    if (!lockHolderAlive(lockPath)) {
      fs.rmSync(lockPath, { force: true });
      return tryLock(lockPath);
    }
    return false;
  }
}

/** @param {string} lockPath */
function lockHolderAlive(lockPath) {
  try {
    const pid = Number.parseInt(fs.readFileSync(lockPath, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 && alive(pid);
  } catch {
    return false;
  }
}

function javaBin() {
  const home = process.env.JAVA_HOME;
  return home && fs.existsSync(path.join(home, 'bin', 'java')) ? path.join(home, 'bin', 'java') : 'java';
}

/**
 * @param {string} java
 * @param {string} name
 * @param {(what: string, logFile?: string) => Error} fail
 */
async function checkJava(java, name, fail) {
  const out = path.join(CACHE_DIR, 'java-version.log');
  const run = await runToFile(java, ['-version'], out, 30_000);
  if (run.error || run.code !== 0) {
    throw fail(`java is needed to run ${name} but "${java} -version" failed (${run.error ?? `exit ${run.code}`}); install Java 17+ (apt-get install openjdk-17-jre-headless) or set JAVA_HOME`, out);
  }
  const m = /version "(\d+)/.exec(fs.readFileSync(out, 'utf8'));
  if (m && Number(m[1]) < 17) throw fail(`Java 17+ is needed, "${java}" is ${m[1]}; set JAVA_HOME to a newer JDK`, out);
}

/**
 * Starts a process in its own session (survives the caller and its process group), output to a file.
 * @returns {number} pid
 */
function spawnDetached(/** @type {string} */ cmd, /** @type {string[]} */ args, /** @type {string} */ outFile, /** @type {string} */ cwd) {
  const fd = fs.openSync(outFile, 'a');
  try {
    fs.writeSync(fd, `\n=== ${new Date().toISOString()} starting: ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', fd, fd] });
    if (!child.pid) throw new Error(`could not spawn ${cmd}`);
    child.on('error', () => {}); // reported through the readiness loop (process not alive)
    child.unref();
    return child.pid;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Runs a command to completion with its output in a file (never a pipe, so daemons that keep the
 * descriptor open cannot hold us up).
 * @param {string} cmd
 * @param {string[]} args
 * @param {string} outFile
 * @param {number} timeoutMs
 * @param {() => void} [heartbeat] called every 30 s while it runs
 * @returns {Promise<{ code: number | null, signal: string | null, error?: string, timedOut?: boolean }>}
 */
function runToFile(cmd, args, outFile, timeoutMs, heartbeat) {
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const fd = fs.openSync(outFile, 'w');
  return new Promise((resolve) => {
    let timedOut = false;
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true });
    fs.closeSync(fd);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    const beat = heartbeat ? setInterval(heartbeat, 30_000) : null;
    const done = (/** @type {any} */ r) => {
      clearTimeout(timer);
      if (beat) clearInterval(beat);
      resolve(r);
    };
    child.on('error', (e) => done({ code: null, signal: null, error: /** @type {any} */ (e).code ?? e.message }));
    child.on('exit', (code, signal) => done({ code, signal, timedOut }));
  });
}

/** Last lines of a log file, for error messages. @param {string} file */
function tailOf(file, lines = 15) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
    return tail ? `\n--- last lines of ${path.basename(file)} ---\n${tail}\n---` : '';
  } catch {
    return '';
  }
}

/** A Kafka cluster id: 16 random bytes, base64url without padding, never starting with '-'. */
function kafkaUuid() {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

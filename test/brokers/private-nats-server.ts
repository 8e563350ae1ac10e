import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { eventually } from '../conformance/harness.js';

/** A nats-server of a test's own (its own port, config and store), for what the shared one cannot do: permissions, an outage. */
export interface PrivateNatsServer {
  readonly url: string;
  /** SIGKILL: the server vanishes mid-conversation, as in a crash or a network cut. */
  kill(): void;
  /** Kills it (if still running) and removes its files. */
  dispose(): void;
}

/** Starts nats-server with `config` (its `listen` and JetStream `store_dir` are added) and waits until `probe` can connect. */
export async function startPrivateNatsServer(config: string, probe: { user?: string; pass?: string } = {}): Promise<PrivateNatsServer> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'edaflow-nats-'));
  const file = join(directory, 'server.conf');
  writeFileSync(file, `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(directory, 'store')}" }\n${config}\n`);
  // Where test/servers starts the shared server from (the Debian package), else the PATH's.
  const server: ChildProcess = spawn(existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server', ['-c', file], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => server.once('error', (error) => reject(new Error(`cannot start nats-server (${error.message}): install it as for the other NATS tests (see README, Tests)`))));
  const url = `127.0.0.1:${port}`;
  const up = (): Promise<boolean> => connect({ servers: url, ...probe }).then((nc) => nc.close().then(() => true), () => false);
  await Promise.race([failed, eventually(up, 10_000, () => `nats-server on port ${port} did not start`)]);
  return {
    url,
    kill: () => void server.kill('SIGKILL'),
    dispose: () => {
      server.kill('SIGKILL');
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

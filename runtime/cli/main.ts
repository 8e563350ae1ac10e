import { Command, Option } from 'commander';
import { VERSION } from './version.js';

// Each command's module is imported only when that command runs: `validate` must not pay for loading
// the code generator (json-schema-to-typescript) or the HTTP server, nor `--version` for any of them.

/** The `edaflow` command line. Each subcommand lives in its own file and returns an exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command('edaflow')
    .description('A declarative runtime for event-driven systems.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program
    .command('validate')
    .description('Check a definitions directory; exit 0 valid, 1 invalid, 2 unusable input.')
    .argument('[dir]', 'definitions directory', 'definitions')
    .addOption(new Option('--format <format>', 'output format').choices(['pretty', 'json', 'github']).default('pretty'))
    .action(async (dir: string, options: { format: 'pretty' | 'json' | 'github' }) => {
      exitCode = await (await import('./validate.js')).validateCommand(dir, options);
    });

  program
    .command('codegen')
    .description('Generate TypeScript types, handler signatures, a typed client and validators.')
    .argument('[dir]', 'definitions directory', 'definitions')
    .option('--out <dir>', 'output directory (default: <dir>/generated)')
    .option('--check', 'exit 1 when the generated files on disk are stale')
    .action(async (dir: string, options: { out?: string; check?: boolean }) => {
      exitCode = await (await import('./codegen.js')).codegenCommand(dir, options);
    });

  program
    .command('graph')
    .description('Print each saga as a Mermaid state diagram and the topology as a Mermaid flowchart (Markdown).')
    .argument('[dir]', 'definitions directory', 'definitions')
    .option('--saga <name>', 'only this saga')
    .option('--topology', 'only the topology')
    .action(async (dir: string, options: { saga?: string; topology?: boolean }) => {
      exitCode = await reported(async () => (await import('./graph.js')).graphCommand(dir, options));
    });

  program
    .command('run')
    .description('Run everything the definitions declare.')
    .argument('[dir]', 'definitions directory', 'definitions')
    .option('--handlers <module>', 'module exporting the typed handlers (.ts or .js)')
    .option('--port <n>', 'HTTP port', '3000')
    .action(async (dir: string, options: { handlers?: string; port: string }) => {
      exitCode = await (await import('./run.js')).runCommand(dir, options);
    });

  program
    .command('publish')
    .description('Validate and publish an event (or send a command) through its broker; prints the message ids.')
    .argument('<dir>', 'definitions directory')
    .argument('<type>', 'event or command type')
    .option('--data <json>', 'the data of one message')
    .option('--file <ndjson>', 'one message per line: its data, or { data, id, subject, time }')
    .option('--subject <subject>', 'CloudEvents subject (the ordering key by default)')
    .option('--id <id>', 'message id (default: a new UUID)')
    .option('--time <time>', 'event time, RFC 3339 (default: now)')
    .action(async (dir: string, type: string, options: { data?: string; file?: string; subject?: string; id?: string; time?: string }) => {
      exitCode = await reported(async () => (await import('./publish.js')).publishCommand(dir, type, options));
    });

  program
    .command('tail')
    .description('Print the messages of a topic as they arrive, like kcat; a throwaway consumer group, so handlers lose nothing.')
    .argument('<dir>', 'definitions directory')
    .argument('<topic>', 'a topic (queues are refused: reading one would take messages from its workers)')
    .option('--from-beginning', 'start with the oldest message the topic keeps (default: only new messages)')
    .option('--count <n>', 'stop after n messages')
    .addOption(new Option('--format <format>', 'output format').choices(['pretty', 'json']).default('pretty'))
    .action(async (dir: string, topic: string, options: { fromBeginning?: boolean; format?: string; count?: string }) => {
      exitCode = await reported(async () => (await import('./tail.js')).tailCommand(dir, topic, options));
    });

  const dlq = program.command('dlq').description('Inspect and replay dead-lettered messages.');
  dlq
    .command('list')
    .description('Dead-letter destinations with their counts, or the messages of one.')
    .argument('<dir>', 'definitions directory')
    .argument('[destination]', 'a dead-letter destination')
    .option('--limit <n>', 'most messages listed', '100')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (dir: string, destination: string | undefined, options: { limit?: string; format?: string }) => {
      exitCode = await reported(async () => (await import('./dlq.js')).dlqList(dir, destination, options));
    });
  dlq
    .command('retry')
    .description('Send one dead letter back to its origin.')
    .argument('<dir>', 'definitions directory')
    .argument('<id>', '<destination>/<id>, as printed by `dlq list`')
    .action(async (dir: string, id: string) => {
      exitCode = await reported(async () => (await import('./dlq.js')).dlqRetry(dir, id));
    });
  dlq
    .command('retry-all')
    .description('Send every message of a dead-letter destination back to its origin.')
    .argument('<dir>', 'definitions directory')
    .argument('<destination>', 'a dead-letter destination')
    .action(async (dir: string, destination: string) => {
      exitCode = await reported(async () => (await import('./dlq.js')).dlqRetryAll(dir, destination));
    });
  dlq
    .command('purge')
    .description('Delete the messages of a dead-letter destination.')
    .argument('<dir>', 'definitions directory')
    .argument('<destination>', 'a dead-letter destination')
    .option('--older-than <duration>', 'only messages dead-lettered longer ago than this, e.g. 7d')
    .action(async (dir: string, destination: string, options: { olderThan?: string }) => {
      exitCode = await reported(async () => (await import('./dlq.js')).dlqPurge(dir, destination, options));
    });

  const projections = program.command('projections').description('Manage projections (the read models).');
  projections
    .command('rebuild')
    .description('Empty a projection and replay the event store into it; shows progress, then the rate.')
    .argument('<dir>', 'definitions directory')
    .argument('<name>', 'projection name')
    .option('--handlers <module>', 'module exporting the typed handlers (needed when the projection has a hook)')
    .action(async (dir: string, name: string, options: { handlers?: string }) => {
      exitCode = await reported(async () => (await import('./projections.js')).rebuildCommand(dir, name, options));
    });

  program
    .command('status')
    .description('Every consumer with its lag, dead-letter size and error rate, every projection with its lag, every saga\'s instances by status; rows over an `alerts` threshold are flagged (LAGGING, DLQ, FAILING).')
    .argument('[dir]', 'definitions directory', 'definitions')
    .option('--url <url>', 'ask a running runtime (e.g. http://127.0.0.1:3000) for its GET /status: error rates included, and the way beside a runtime on the embedded database (without it error rates show -)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--fail-on-alert', 'exit 1 when a row is flagged (for CI and cron)')
    .action(async (dir: string, options: { url?: string; format?: string; failOnAlert?: boolean }) => {
      exitCode = await reported(async () => (await import('./status.js')).statusCommand(dir, options));
    });

  const sagas = program.command('sagas').description('Inspect saga instances.');
  sagas
    .command('list')
    .description('Saga instances, newest first: id, saga, status, state, updated.')
    .argument('[dir]', 'definitions directory', '.')
    .option('--status <statuses>', 'only these statuses, comma-separated (running, compensating, stuck, completed, failed)')
    .option('--limit <n>', 'at most this many', '1000')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (dir: string, options: { status?: string; limit?: string; format?: string }) => {
      exitCode = await reported(async () => (await import('./sagas.js')).sagasList(dir, options));
    });
  sagas
    .command('show')
    .description('One saga instance: state, context, timers, activities and its transition history with times.')
    .argument('<dir>', 'definitions directory')
    .argument('<id>', 'instance id (from `sagas list`)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (dir: string, id: string, options: { format?: string }) => {
      exitCode = await reported(async () => (await import('./sagas.js')).sagasShow(dir, id, options));
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    const code = (error as { code?: string; exitCode?: number }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (typeof code === 'string' && code.startsWith('commander.')) return 2;
    throw error;
  }
  return exitCode;
}

/** Runs a command; a CommandFailure or an EdaflowError is one line on stderr and an exit code, not a stack. */
async function reported(command: () => Promise<number>): Promise<number> {
  try {
    return await command();
  } catch (error) {
    const { CommandFailure } = await import('./messaging-session.js');
    if (error instanceof CommandFailure) {
      process.stderr.write(`edaflow: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('EDA_')) {
      process.stderr.write(`edaflow: ${error.code}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

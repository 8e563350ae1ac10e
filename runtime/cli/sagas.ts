import { formatDiagnostics, loadDefinitions } from '../definitions/index.js';
import { listInstances, showInstance, type InstanceDetail } from '../sagas/index.js';
import { openDatabase, type Database } from '../store/database.js';
import { CommandFailure } from './messaging-session.js';

const STATUSES = ['running', 'compensating', 'stuck', 'completed', 'failed'];

async function withDatabase<T>(dir: string, work: (database: Database) => Promise<T>): Promise<T> {
  const result = await loadDefinitions(dir, { mode: 'run' });
  if (result.unusable) throw new CommandFailure(result.unusable, 2);
  if (!result.definitions) throw new CommandFailure(formatDiagnostics(result.diagnostics, result.files, 'pretty'), 1);
  const database = await openDatabase(result.definitions.stores.database);
  try {
    return await work(database);
  } finally {
    await database.close();
  }
}

/** `edaflow sagas list [<dir>] [--status s,…] [--format json]`: id, saga, status, state, updated; newest first. */
export async function sagasList(dir: string, options: { status?: string; limit?: string; format?: string }): Promise<number> {
  const statuses = options.status ? options.status.split(',').map((status) => status.trim()).filter(Boolean) : [];
  const unknown = statuses.filter((status) => !STATUSES.includes(status));
  if (unknown.length) throw new CommandFailure(`unknown status ${unknown.join(', ')} (statuses: ${STATUSES.join(', ')})`, 2);
  return withDatabase(dir, async (database) => {
    const instances = await listInstances(database, { statuses, limit: Number(options.limit ?? 1000) });
    if (options.format === 'json') {
      process.stdout.write(JSON.stringify(instances) + '\n');
      return 0;
    }
    const rows = [['ID', 'SAGA', 'STATUS', 'STATE', 'UPDATED'], ...instances.map((instance) => [instance.id, instance.saga, instance.status, instance.state, instance.updatedAt])];
    process.stdout.write(table(rows));
    return 0;
  });
}

/** `edaflow sagas show <dir> <id> [--format json]`: state, context, timers, activities, and the transition history with times. */
export async function sagasShow(dir: string, id: string, options: { format?: string }): Promise<number> {
  return withDatabase(dir, async (database) => {
    const instance = await showInstance(database, id);
    process.stdout.write(options.format === 'json' ? JSON.stringify(instance) + '\n' : describe(instance));
    return 0;
  });
}

function describe(instance: InstanceDetail): string {
  const { $saga: bookkeeping, ...context } = instance.context;
  const lines = [
    `${instance.saga} ${instance.id}`,
    `  status:      ${instance.status}`,
    `  state:       ${instance.state}`,
    `  correlation: ${instance.correlationKey}`,
    `  version:     ${instance.version}`,
    `  created:     ${instance.createdAt}`,
    `  updated:     ${instance.updatedAt}`,
    ...(bookkeeping?.failure ? [`  failure:     ${bookkeeping.failure.reason}${bookkeeping.failure.step ? ` (step ${bookkeeping.failure.step})` : ''}`] : []),
    ...(bookkeeping?.stuck ? [`  stuck:       compensation of ${bookkeeping.stuck.step} failed: ${bookkeeping.stuck.error}`] : []),
    `  context:     ${JSON.stringify(context, null, 2).replace(/\n/g, '\n  ')}`,
    '',
    'history:',
    table([['AT', 'FROM', 'TO', 'STATUS', 'EVENT'], ...instance.history.map((entry) => [entry.at, entry.from ?? '(start)', entry.to, entry.status, entry.event])], '  '),
  ];
  if (instance.timers.length) lines.push('timers:', table([['NAME', 'FIRES AT'], ...instance.timers.map((timer) => [timer.name, timer.fireAt])], '  '));
  if (instance.activities.length) {
    lines.push('activities:', table([['KEY', 'ACTIVITY', 'STATUS', 'ATTEMPTS', 'ERROR'], ...instance.activities.map((activity) => [activity.key, activity.activity, activity.status, String(activity.attempts), activity.error ?? ''])], '  '));
  }
  return lines.join('\n') + '\n';
}

/** Rows as aligned columns (the first row is the header). */
export function table(rows: readonly (readonly string[])[], indent = ''): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => indent + row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n') + '\n';
}

import { collectStatus, type StatusReport } from '../observability/status.js';

export type { StatusReport, ConsumerStatus } from '../observability/status.js';
import { CommandFailure, withMessaging } from './messaging-session.js';
import { table } from './sagas.js';

/**
 * `edaflow status <dir> [--url <runtime>] [--format table|json] [--fail-on-alert]`: every consumer with
 * its broker, destination, group, lag and dead-letter size (from the brokers' own numbers), every
 * projection fed by the event store with its lag, every saga's instances by status, and the outbox
 * backlog. Without `--url` it measures from here (error rates show `-`: they live in the consuming
 * process). With `--url` the running runtime measures (its `GET /status`), error rates included; that is
 * also the way beside a runtime on the embedded database, which one process at a time may open. Rows
 * over a threshold of their `alerts` are flagged (LAGGING, DLQ, FAILING); `--fail-on-alert` then exits 1.
 */
export async function statusCommand(dir: string, options: { url?: string; format?: string; failOnAlert?: boolean }): Promise<number> {
  if (options.url) return printStatus(await readStatus(options.url), options);
  return withMessaging(dir, async (messaging, definitions, database) => {
    // `database: true` below: the session always opens it.
    return printStatus(await collectStatus(definitions, messaging, database!), options);
  }, { database: true });
}

function printStatus(report: StatusReport, options: { format?: string; failOnAlert?: boolean }): number {
  process.stdout.write(options.format === 'json' ? JSON.stringify(report) + '\n' : formatStatus(report));
  const alerting = report.consumers.some((row) => row.flags.length) || report.projections.some((row) => row.flags.length);
  return options.failOnAlert && alerting ? 1 : 0;
}

export function formatStatus(report: StatusReport): string {
  const sections: string[] = [];
  const number = (value: number | null): string => (value === null ? '-' : String(value));
  if (report.consumers.length) {
    sections.push(table([
      ['KIND', 'NAME', 'BROKER', 'DESTINATION', 'GROUP', 'LAG', 'DLQ', 'ERRORS', 'STATUS'],
      ...report.consumers.map((row) => [
        row.kind, row.name, row.broker, row.destination, row.group, number(row.lag), number(row.deadLetters),
        row.errorRate === null ? '-' : `${(row.errorRate * 100).toFixed(1)}%`,
        row.flags.length ? row.flags.join(',') + (row.errors.length ? ` (${row.errors.join('; ')})` : '') : 'OK',
      ]),
    ]));
  }
  if (report.projections.length) sections.push(table([['PROJECTION', 'LAG', 'STATUS'], ...report.projections.map((row) => [row.name, String(row.lag), row.flags.join(',') || 'OK'])]));
  if (report.sagas.length) {
    sections.push(table([['SAGA', 'INSTANCES'], ...report.sagas.map((row) => [row.saga, Object.entries(row.instances).map(([status, count]) => `${status}=${count}`).join(' ') || 'none'])]));
  }
  sections.push(`outbox: ${report.outbox.pending} pending, ${report.outbox.dead} dead\n`);
  return sections.join('\n');
}

/** The running runtime's own report (`GET /status`). */
async function readStatus(url: string): Promise<StatusReport> {
  let response: Response;
  try {
    response = await fetch(new URL('/status', url));
  } catch (error) {
    throw new CommandFailure(`cannot reach the runtime at ${url}: ${(error as Error).message}`, 2);
  }
  const body = await response.text();
  if (!response.ok) throw new CommandFailure(`the runtime at ${url} answered GET /status with ${response.status}: ${body.slice(0, 500)}`, 2);
  return JSON.parse(body) as StatusReport;
}

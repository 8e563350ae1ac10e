import { formatDiagnostics, loadDefinitions } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';
import { createEventStore } from '../eventstore/index.js';
import { loadHandlersModule, type HandlerFunctions } from '../host/handlers-module.js';
import { MessageCatalog, type UpcastFunction } from '../messages/catalog.js';
import { createLogger } from '../observability/logger.js';
import type { Outbox } from '../outbox/index.js';
import { projectionModel, rebuildProjection } from '../projections/index.js';
import { openDatabase } from '../store/database.js';
import { CommandFailure } from './messaging-session.js';

/** How often progress is printed when stderr is not a terminal (a log, CI). */
const LOG_INTERVAL_MS = 5_000;
/** How often the progress line is redrawn on a terminal. */
const REDRAW_INTERVAL_MS = 100;

/** A rebuild only reads the event store: nothing may reach the outbox. */
const appendsNothing = (): Promise<never> => Promise.reject(new EdaflowError('EDA_USAGE', 'a projection rebuild appends no events'));
const READ_ONLY_OUTBOX: Outbox = { write: appendsNothing, parts: appendsNothing };

/**
 * `edaflow projections rebuild <dir> <name>`: empties the projection and replays the event store into
 * it, showing progress on stderr (one updating line on a terminal, a line every few seconds otherwise),
 * then one line with the count and the rate.
 */
export async function rebuildCommand(dir: string, name: string, options: { handlers?: string }): Promise<number> {
  const result = await loadDefinitions(dir, { mode: 'run' });
  if (result.unusable) throw new CommandFailure(result.unusable, 2);
  if (!result.definitions) throw new CommandFailure(formatDiagnostics(result.diagnostics, result.files, 'pretty'), 1);
  const definitions = result.definitions;
  if (!definitions.projections.has(name)) throw new CommandFailure(`no projection named ${name} (projections: ${[...definitions.projections.keys()].join(', ') || 'none'})`, 2);
  const projection = projectionModel(definitions, name);
  if (projection.hook !== undefined && !options.handlers) throw new CommandFailure(`projection ${name} runs the hook ${projection.hook}: pass --handlers <module>`, 2);
  const functions: HandlerFunctions = options.handlers ? await loadHandlersModule(options.handlers, definitions) : {};
  const logger = createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'warn', destination: process.stderr });
  const database = await openDatabase(definitions.stores.database);
  try {
    const catalog = MessageCatalog.build(definitions, functions as Readonly<Record<string, UpcastFunction>>);
    const store = createEventStore({ database, catalog, outbox: READ_ONLY_OUTBOX });
    const progress = progressPrinter(name);
    const started = performance.now();
    const { events } = await rebuildProjection({ definitions, database, store, functions, logger, name, onProgress: progress.update });
    progress.end();
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`rebuilt ${name}: ${events} event${events === 1 ? '' : 's'} in ${seconds.toFixed(1)} s (${Math.round(events / Math.max(seconds, 0.001))} events/s)\n`);
    return 0;
  } finally {
    await database.close();
  }
}

/** Progress on stderr: redrawn in place on a terminal, a plain line now and then otherwise. */
function progressPrinter(name: string): { update(done: number, total: number): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  const interval = tty ? REDRAW_INTERVAL_MS : LOG_INTERVAL_MS;
  const started = performance.now();
  let printedAt = -Infinity;
  let last = '';
  const line = (done: number, total: number): string => {
    const seconds = (performance.now() - started) / 1000;
    const percent = total > 0 ? ` (${Math.floor((100 * done) / total)}%)` : '';
    return `rebuilding ${name}: ${done}/${total} events${percent}, ${Math.round(done / Math.max(seconds, 0.001))} events/s`;
  };
  return {
    update(done, total) {
      last = line(done, total);
      const now = performance.now();
      if (now - printedAt < interval && done < total) return;
      printedAt = now;
      process.stderr.write(tty ? `\r\x1b[2K${last}` : `${last}\n`);
    },
    end() {
      if (tty) process.stderr.write(`\r\x1b[2K${last}\n`);
    },
  };
}

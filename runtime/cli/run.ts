import { formatDiagnostics, loadDefinitions } from '../definitions/index.js';
import { isEdaflowError } from '../errors/index.js';
import { startRuntime } from '../host/runtime.js';
import { createLogger } from '../observability/logger.js';

/**
 * `edaflow run`: validate strictly (an unset variable is an error), start everything, and stop cleanly
 * on SIGTERM/SIGINT (exit 0). A second signal while draining exits at once with 130.
 */
export async function runCommand(dir: string, options: { handlers?: string; port: string }): Promise<number> {
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`edaflow run: --port must be a port number, got "${options.port}"\n`);
    return 2;
  }
  const result = await loadDefinitions(dir, { mode: 'run' });
  if (result.unusable) {
    process.stderr.write(`edaflow: ${result.unusable}\n`);
    return 2;
  }
  if (!result.definitions) {
    process.stderr.write(formatDiagnostics(result.diagnostics, result.files, 'pretty') + '\n');
    return 1;
  }
  const logger = createLogger();
  let runtime;
  try {
    runtime = await startRuntime(result.definitions, { logger, port, ...(options.handlers ? { handlersModule: options.handlers } : {}) });
  } catch (error) {
    logger.fatal({ code: isEdaflowError(error) ? error.code : 'EDA_STARTUP', err: error }, 'could not start');
    return 1;
  }
  const active = runtime;
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        logger.warn({ signal }, 'second signal: exiting without draining');
        process.exit(130);
      }
      signalled = true;
      logger.info({ signal }, 'draining');
      void active.stop().then(() => {
        logger.info('stopped cleanly');
        resolve(0);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

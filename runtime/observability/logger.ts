import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Key material of topics' and queues' `security` (`keys` rings, Ed25519 `privateKey`), at the depths a
 * logged configuration puts it (pino's paths have no recursive wildcard).
 */
const SECRET_KEY_PATHS = ['keys', '*.keys', '*.*.keys', '*.*.*.keys', '*.*.*.*.keys', 'privateKey', '*.privateKey', '*.*.privateKey'];

/**
 * Structured JSON logs, one object per line. Level from EDAFLOW_LOG_LEVEL (default info). Secrets are
 * redacted wherever they appear under these keys.
 */
export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: 'edaflow',
      level: options.level ?? process.env['EDAFLOW_LOG_LEVEL'] ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', 'secret', 'token', '*.password', '*.secret', '*.token', 'authorization', '*.authorization', ...SECRET_KEY_PATHS], censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

import { isEdaflowError } from '../errors/index.js';
import type { Logger } from '../observability/logger.js';

/** What became of a command (or an HTTP query): a metric label and the audit line's `outcome`. */
export type Outcome =
  | 'accepted' // 202: sent on (queue or in-process)
  | 'completed' // 200: the aggregate appended / the query answered
  | 'replayed' // the stored first response to the same Idempotency-Key
  | 'rejected' // 409: the aggregate refused it (`reject`)
  | 'conflict' // 409: concurrency conflict, or the Idempotency-Key is in use
  | 'invalid' // 400 / 413 / 415 / 422
  | 'not_found' // 404
  | 'unauthenticated' // 401
  | 'forbidden' // 403
  | 'unavailable' // 503: not ready yet
  | 'failed'; // other 5xx

export function outcomeOf(status: number, code: string | undefined): Outcome {
  if (status === 202) return 'accepted';
  if (status < 300) return 'completed';
  if (status === 409) return code === 'EDA_COMMAND_REJECTED' ? 'rejected' : 'conflict';
  if (status === 400 || status === 413 || status === 415 || status === 422) return 'invalid';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  return status === 503 ? 'unavailable' : 'failed';
}

/** The outcome of a command that threw: by its error's status (an unexpected error is a failure). */
export function outcomeOfError(error: unknown): Outcome {
  return isEdaflowError(error) ? outcomeOf(error.status ?? 500, error.code) : 'failed';
}

/** The user of a command that no person sent: a saga, a handler, a queue consumer. */
export const SYSTEM_USER = 'system';
/** The user of an HTTP command on a route without `roles` (no credentials are asked for). */
export const ANONYMOUS_USER = 'anonymous';

export interface CommandAudit {
  /** The principal's subject, ANONYMOUS_USER, or SYSTEM_USER. */
  readonly user: string;
  readonly command: string;
  /** The command's id; undefined when the request was refused before it had one. */
  readonly id: string | undefined;
  readonly outcome: Outcome;
  /** Where it came from: `http`, or `bus` for a command executed in-process without HTTP. */
  readonly via: 'http' | 'bus';
  readonly fields?: Readonly<Record<string, unknown>>;
}

/**
 * The audit trail: one info line `command` with `audit: true` per command, whoever sent it (the HTTP
 * API for what it receives, the command bus for what runs in-process without HTTP), so a log search
 * for `audit:true` lists who asked for what and what became of it.
 */
export function auditCommand(logger: Logger, entry: CommandAudit): void {
  logger.info({ audit: true, command: entry.command, id: entry.id ?? null, user: entry.user, outcome: entry.outcome, via: entry.via, ...entry.fields }, 'command');
}

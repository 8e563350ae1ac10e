import { ERROR_CODES, type ErrorCode } from './codes.js';

/**
 * The one error class edaflow throws. Callers branch on `code` and `retriable`, never on the class name
 * (kafkajs's lesson), and `cause` keeps the underlying error for logs.
 */
export class EdaflowError extends Error {
  override readonly name = 'EdaflowError';
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly status: number | undefined;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message?: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    const spec = ERROR_CODES[code];
    super(message ?? spec.summary, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = spec.retriable;
    this.status = spec.status;
    this.details = options.details ?? {};
  }
}

export function isEdaflowError(error: unknown, code?: ErrorCode): error is EdaflowError {
  return error instanceof EdaflowError && (code === undefined || error.code === code);
}

export { DIAGNOSTIC_CODES, RUNTIME_CODES, ERROR_CODES, type DiagnosticCode, type RuntimeCode, type ErrorCode, type ErrorSpec } from './codes.js';
export { EdaflowError, isEdaflowError } from './edaflow-error.js';

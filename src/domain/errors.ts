/**
 * The few errors Offload raises on purpose. Each has a stable `code`; the server maps them to
 * RFC 9457 problem responses in one place (src/server/problem.ts). Anything else is unexpected.
 */
export type ErrorCode =
  | 'invalid_request'
  | 'not_found'
  | 'conflict'
  | 'already_completed'
  | 'superseded'
  | 'payload_too_large'
  | 'unauthorized'
  | 'forbidden'
  | 'store_unavailable'
  | 'invalid_config';

export class OffloadError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: { errors?: Array<{ path: string; message: string }> },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OffloadError';
  }
}

export class ValidationError extends OffloadError {
  constructor(message: string, errors?: Array<{ path: string; message: string }>) {
    super('invalid_request', message, errors ? { errors } : undefined);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends OffloadError {
  constructor(message: string) {
    super('not_found', message);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends OffloadError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'ConflictError';
  }
}

export class PayloadTooLargeError extends OffloadError {
  constructor(message: string) {
    super('payload_too_large', message);
    this.name = 'PayloadTooLargeError';
  }
}

export class StoreUnavailableError extends OffloadError {
  constructor(message: string, cause?: unknown) {
    super('store_unavailable', message, undefined, { cause });
    this.name = 'StoreUnavailableError';
  }
}

export class ConfigError extends OffloadError {
  constructor(message: string, errors?: Array<{ path: string; message: string }>) {
    super('invalid_config', message, errors ? { errors } : undefined);
    this.name = 'ConfigError';
  }
}

/**
 * A completion token that can no longer settle its attempt (409): `already_completed` when this
 * attempt was settled before (a repeated completion: nothing changed, it may count as done),
 * `superseded` when a later attempt took the delivery over (the deferral timed out, or the lease
 * was lost): the outcome is discarded and the delivery goes on as the later attempt decides.
 */
export class CompletionConflictError extends OffloadError {
  constructor(code: 'already_completed' | 'superseded', message: string) {
    super(code, message);
    this.name = 'CompletionConflictError';
  }
}

export type AgentErrorCode =
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'INVALID_REQUEST'
  | 'INVALID_BOOTSTRAP'
  | 'INVALID_END_USER'
  | 'STORE_UNAVAILABLE'
  | 'UPSTREAM_REJECTED';

/** Domain errors; one filter maps their codes to HTTP statuses (never HttpException in domain code). */
export abstract class AgentError extends Error {
  abstract readonly code: AgentErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UnauthorizedError extends AgentError {
  readonly code = 'UNAUTHORIZED';
}

/** A known credential that may not do this (a client secret on a server endpoint). */
export class ForbiddenError extends AgentError {
  readonly code = 'FORBIDDEN';
}

export class InvalidRequestError extends AgentError {
  readonly code = 'INVALID_REQUEST';
}

export class InvalidBootstrapError extends AgentError {
  readonly code = 'INVALID_BOOTSTRAP';
}

/** Answered with the plain-text body `invalid end user` (protocol §3.3). */
export class InvalidEndUserError extends AgentError {
  readonly code = 'INVALID_END_USER';
}

export class StoreUnavailableError extends AgentError {
  readonly code = 'STORE_UNAVAILABLE';
}

export class UpstreamRejectedError extends AgentError {
  readonly code = 'UPSTREAM_REJECTED';
}

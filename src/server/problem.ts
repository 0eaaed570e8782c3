import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OffloadError, type ErrorCode } from '../domain/errors.js';
import { errorKey, type LogThrottle } from './log-throttle.js';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  already_completed: 409,
  superseded: 409,
  payload_too_large: 413,
  store_unavailable: 503,
  invalid_config: 500,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: Array<{ path: string; message: string }>;
}

export function sendProblem(reply: FastifyReply, status: number, code: string, detail: string, errors?: Problem['errors']): FastifyReply {
  const body: Problem = { type: `urn:offload:problem:${code}`, title: TITLES[status] ?? 'Error', status, detail };
  if (errors && errors.length > 0) body.errors = errors;
  return reply.code(status).type('application/problem+json').send(body);
}

/**
 * The one place errors become HTTP answers (RFC 9457). Known errors keep their message; the
 * framework's own client errors (malformed JSON, body too large, wrong content type) say what to
 * fix; anything else is logged once and answered 500 without internals.
 */
export function errorHandler(error: FastifyError | OffloadError | Error, request: FastifyRequest, reply: FastifyReply, throttle?: LogThrottle): FastifyReply {
  if (error instanceof OffloadError) {
    const status = STATUS[error.code];
    // A failing store fails every request alike: logged once per interval with a count.
    if (status >= 500) {
      if (throttle) throttle.error(errorKey('request', error), { err: error }, error.message);
      else request.log.error({ err: error }, error.message);
    }
    return sendProblem(reply, status, error.code, error.message, error.details?.errors);
  }
  const fe = error as FastifyError;
  const status = fe.statusCode ?? 500;
  if (status >= 400 && status < 500) return sendProblem(reply, status, clientCode(fe), clientDetail(fe));
  if (throttle) throttle.error(errorKey('unexpected', error), { err: error }, 'unexpected error');
  else request.log.error({ err: error }, 'unexpected error');
  return sendProblem(reply, 500, 'internal', 'an unexpected error occurred; it has been logged');
}

function clientCode(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'malformed_json';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'payload_too_large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported_media_type';
    default:
      return 'invalid_request';
  }
}

function clientDetail(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return `the body is not valid JSON: ${error.message}`;
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'the body is empty; send a JSON object';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'the request body is larger than the server accepts (server.bodyLimit); send fewer or smaller messages';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'send the body as application/json';
    // These two would repeat the whole path back: the detail stays short whatever was sent.
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return 'a path segment is longer than 1000 characters: names, ids and completion tokens are far shorter (see the limits in the README)';
    case 'FST_ERR_BAD_URL':
      return 'the path is not valid percent-encoded UTF-8';
    default:
      return error.message;
  }
}

/**
 * Requests Node's HTTP parser refuses before any route sees them (malformed framing, headers too
 * large, a request not received within `server.requestTimeout`) get a problem answer too, written
 * straight to the socket, which then closes.
 */
export function clientErrorAnswer(
  error: Error & { code?: string },
  socket: { writable: boolean; end(data: string): void; destroy(): void; _httpMessage?: { headersSent?: boolean } | null },
): void {
  // Nothing to answer on a connection that is gone, or whose request is already being answered.
  if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, title, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'the request headers are too large; send fewer or shorter headers']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request was not received in full within server.requestTimeout; send it again']
        : [400, 'Bad Request', `the request is not valid HTTP/1.1 (${error.code ?? 'malformed'}); check its framing (Content-Length, Transfer-Encoding) and headers`];
  const body = JSON.stringify({ type: `urn:offload:problem:${status === 400 ? 'malformed_request' : status === 408 ? 'request_timeout' : 'headers_too_large'}`, title, status, detail });
  socket.end(`HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

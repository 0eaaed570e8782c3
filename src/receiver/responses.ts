/** What the receiver answers, independent of the framework that sends it. */
export interface ReceiverResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** RFC 9457 problem, the same shape Offload's own API answers with. */
export function problem(status: number, code: string, detail: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): ReceiverResponse {
  const body = { type: `urn:offload:receiver:${code}`, title: TITLES[status] ?? 'Error', status, detail, ...extra };
  return { status, headers: { 'content-type': 'application/problem+json', ...headers }, body: JSON.stringify(body) };
}

export function json(status: number, value: unknown): ReceiverResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) ?? 'null' };
}

/** A Web `Response` from a receiver response. */
export function toResponse(response: ReceiverResponse): Response {
  return new Response(response.body, { status: response.status, headers: response.headers });
}

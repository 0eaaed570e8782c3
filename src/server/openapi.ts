import { z } from 'zod';
import { drainInputSchema } from './drain-input.js';
import { batchInputSchema, messageInputSchema } from './message-input.js';
import { completionInputSchema } from './completion-input.js';
import { idsInputSchema } from './ids-input.js';
import { EVENT_TYPES } from './event-stream.js';

const problem = { $ref: '#/components/schemas/Problem' };
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const problems = {
  '400': { description: 'Bad input: the detail says what to fix', content: { 'application/problem+json': { schema: problem } } },
  '404': { description: 'Unknown channel or message', content: { 'application/problem+json': { schema: problem } } },
};
/** Backpressure (maxDepth / maxOldestAge on the channel): nothing stored, send again after Retry-After. */
const throttledAnswer = {
  '429': {
    description: 'The channel is at or over its maxDepth or maxOldestAge: nothing was stored (a batch is refused whole); send again after Retry-After',
    headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait' } },
    content: { 'application/problem+json': { schema: problem } },
  },
};
const sendResult = { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, duplicate: { type: 'boolean' }, sequence: { type: 'integer' } }, required: ['id', 'status'] };
const list = { type: 'object', properties: { items: { type: 'array', items: { type: 'object' } }, next: { type: ['string', 'null'] } } };
const op = (summary: string, extra: object = {}) => ({ summary, responses: { '200': { description: 'OK', ...json(list) }, ...problems }, ...extra });
const nameParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const query = (name: string, description: string, schema: object = { type: 'string' }) => ({ name, in: 'query', required: false, description, schema });
/** A page of a list: `?limit=&cursor=`, answered `{ items, next }`. */
const pageParams = [query('limit', 'items per page (1-1000, default 100)', { type: 'integer', minimum: 1, maximum: 1000 }), query('cursor', 'the `next` of the previous page')];
const page = (summary: string, parameters: object[]) => op(summary, { parameters: [...parameters, ...pageParams] });
/** An operation answering one object (not a list). */
const answers = (summary: string, parameters: object[], schema: object, extra: { requestBody?: object; responses?: object } = {}) => ({
  summary,
  parameters,
  ...(extra.requestBody ? { requestBody: extra.requestBody } : {}),
  responses: { '200': { description: 'OK', ...json(schema) }, ...problems, ...extra.responses },
});
const count = (name: string) => ({
  type: 'object',
  properties: { [name]: { type: 'integer' }, notFound: { type: 'array', items: { type: 'string' }, description: 'with { ids }: the ids that named no message in that state' } },
  required: [name],
});
/** `{ ids }` of an operation on some messages; without a body, on all of them. */
const idsBody = { required: false, ...json({ $ref: '#/components/schemas/IdsInput' }) };
const conflict = { '409': { description: 'The state changed meanwhile (another operator or instance acted first): nothing was done', content: { 'application/problem+json': { schema: problem } } } };
const keyParam = query('key', 'the key of a subscription with ordering key (required there)');
const paused = { type: 'object', properties: { name: { type: 'string' }, paused: { type: 'boolean' } }, required: ['name', 'paused'] };
const delivery = { type: 'object', description: 'A delivery of a message with its status, attempts and history' };
const messageView = {
  type: 'object',
  properties: {
    id: { type: 'string' }, channel: { type: 'string' }, key: { type: ['string', 'null'] }, type: { type: 'string' }, data: {}, metadata: { type: 'object' },
    createdAt: { type: 'string', format: 'date-time' }, sequence: { type: ['integer', 'null'] }, status: { type: 'string' }, deliveries: { type: 'array', items: delivery },
  },
};
const unsupportedType = { '415': { description: 'The body is not application/json', content: { 'application/problem+json': { schema: problem } } } };
const tooLarge = { '413': { description: 'The body is larger than server.bodyLimit, or a message larger than delivery.maxPayload', content: { 'application/problem+json': { schema: problem } } } };

const reasons = ['due', 'in-flight', 'awaiting-completion', 'fenced', 'scheduled', 'retrying', 'parked', 'stalled', 'paused', 'breaker-open', 'retry-after', 'deadlettered', 'skipped'];
const drainResult = {
  type: 'object',
  properties: {
    complete: { type: 'boolean', description: 'nothing of the channels is due or in flight' },
    stoppedBy: { enum: ['timeout', 'rounds', null] },
    rounds: { type: 'integer' },
    elapsedMs: { type: 'integer' },
    targets: { type: 'array', items: { type: 'string' } },
    undelivered: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' }, channel: { type: 'string' }, target: { type: 'string' }, key: { type: ['string', 'null'] }, type: { type: 'string' },
          status: { type: 'string' }, reason: { enum: reasons }, attempts: { type: 'integer' }, availableAt: { type: ['string', 'null'] }, lastError: { type: ['string', 'null'] },
          completionToken: { type: 'string', description: 'awaiting-completion: the deferred call\'s token, for POST /v1/deliveries/{token}/complete' },
        },
      },
    },
    counts: { type: 'object', additionalProperties: { type: 'integer' } },
    truncated: { type: 'boolean' },
  },
  required: ['complete', 'stoppedBy', 'rounds', 'undelivered', 'counts', 'truncated'],
};

/** The OpenAPI 3.1 description served at /openapi.json; request schemas come from the validators. */
export function openApiDocument(version: string): object {
  const send = (what: string) => ({
    summary: `Send one message to a ${what}`,
    parameters: [nameParam('name'), { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' } }],
    requestBody: { required: true, ...json({ $ref: '#/components/schemas/MessageInput' }) },
    responses: { '202': { description: 'Stored durably', ...json(sendResult) }, '200': { description: 'Duplicate of an accepted message', ...json(sendResult) }, ...tooLarge, ...unsupportedType, ...throttledAnswer, ...problems },
  });
  const batch = (what: string) => ({
    summary: `Send a batch of messages to a ${what} (all stored, or none)`,
    parameters: [nameParam('name')],
    requestBody: { required: true, ...json({ $ref: '#/components/schemas/BatchInput' }) },
    responses: {
      '202': { description: 'Stored durably (in input order)', ...json({ type: 'object', properties: { items: { type: 'array', items: sendResult } } }) },
      '200': { description: 'Every message was a duplicate: nothing new stored', ...json({ type: 'object', properties: { items: { type: 'array', items: sendResult } } }) },
      ...tooLarge,
      ...unsupportedType,
      ...throttledAnswer,
      ...problems,
    },
  });
  const sub = [nameParam('topic'), nameParam('sub')];
  return {
    openapi: '3.1.0',
    info: { title: 'Offload', version, description: 'Durable asynchronous work delivered as HTTP calls.' },
    paths: {
      '/v1/queues/{name}/messages': { post: send('queue (kind queue or fifo; fifo requires key)') },
      '/v1/queues/{name}/messages/batch': { post: batch('queue') },
      '/v1/topics/{name}/messages': { post: send('topic') },
      '/v1/topics/{name}/messages/batch': { post: batch('topic') },
      '/v1/messages': {
        get: op('Search messages, newest first, filtered and paged (each parameter at most once). A page looks at a bounded window of messages: it may hold fewer than limit items, even none, with a next cursor to go on from', {
          parameters: ['channel', 'status', 'type', 'key', 'since', 'until', 'limit', 'cursor'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })),
        }),
      },
      '/v1/messages/{id}': { get: answers('Status of a message with every delivery and attempt', [nameParam('id'), query('channel', 'the channel, where the id was used on several')], messageView) },
      '/v1/channels': { get: op('Every queue, topic and subscription with depth, in flight, oldest age, dead letters, blocked keys, breaker, and a subscription\'s filter') },
      '/v1/rates': {
        get: {
          summary: 'Chart series (delivered/s, failed/s, latency p50/p99, depth, in flight, oldest age, breaker) of a channel or of everything, over 15m or 1h',
          parameters: [{ name: 'channel', in: 'query', schema: { type: 'string' } }, { name: 'window', in: 'query', schema: { type: 'string', enum: ['15m', '1h'] } }],
          responses: { '200': { description: 'Columns of equal length, oldest first', ...json({ type: 'object' }) }, ...problems },
        },
      },
      '/v1/breakers': { get: op('Circuit breakers per endpoint origin: closed, open or half-open') },
      '/v1/endpoints': { get: op('Endpoints with their rate limit, concurrency and adaptive limits: configured, in force now, in flight from this instance and across instances (inFlightTotal, instances), targets waiting, 429/503 answers') },
      '/v1/schedules': { get: op('Recurring schedules: cron, time zone, channel, paused, lastRunAt and nextRunAt') },
      '/v1/schedules/{name}': { get: { ...op('One schedule as listed', { parameters: [nameParam('name')] }), responses: { '200': { description: 'OK', ...json({ $ref: '#/components/schemas/Schedule' }) }, ...problems } } },
      '/v1/schedules/{name}/pause': { post: { ...op('Pause a schedule on every instance (operator role)', { parameters: [nameParam('name')] }), responses: { '200': { description: 'The schedule, paused', ...json({ $ref: '#/components/schemas/Schedule' }) }, ...problems } } },
      '/v1/schedules/{name}/resume': { post: { ...op('Resume a schedule from its next tick; ticks that passed while paused are not sent (operator role)', { parameters: [nameParam('name')] }), responses: { '200': { description: 'The schedule, resumed', ...json({ $ref: '#/components/schemas/Schedule' }) }, ...problems } } },
      '/v1/queues/{name}/deadletters': {
        get: page('Dead-lettered messages', [nameParam('name')]),
        delete: answers('Purge dead letters (all, or { ids })', [nameParam('name')], count('purged'), { requestBody: idsBody }),
      },
      '/v1/queues/{name}/deadletters/redrive': { post: answers('Redrive dead letters (all, or { ids })', [nameParam('name')], count('redriven'), { requestBody: idsBody }) },
      '/v1/queues/{name}/parked': { get: page('Parked keys of a fifo queue', [nameParam('name')]) },
      '/v1/queues/{name}/parked/{key}/retry': {
        post: answers('Retry the head of a parked key now', [nameParam('name'), nameParam('key')], { type: 'object', properties: { retried: { type: 'string' } }, required: ['retried'] }, { responses: conflict }),
      },
      '/v1/queues/{name}/parked/{key}/skip': {
        post: answers('Move the head of a parked key aside', [nameParam('name'), nameParam('key')], { type: 'object', properties: { skipped: delivery }, required: ['skipped'] }, { responses: conflict }),
      },
      '/v1/queues/{name}/skipped': { get: page('Skipped messages of a fifo queue', [nameParam('name')]) },
      '/v1/queues/{name}/skipped/redeliver': { post: answers('Put skipped messages (all, or { ids }) back ahead of their key', [nameParam('name')], count('redelivered'), { requestBody: idsBody }) },
      '/v1/topics/{topic}/subscriptions/{sub}': {
        get: answers('Subscription state, lag, filter, breaker and stalled lanes', sub, { type: 'object', properties: { name: { type: 'string' }, blockedLanes: { type: 'array', items: { type: 'object' } } } }),
      },
      '/v1/topics/{topic}/subscriptions/{sub}/retry': {
        post: answers('Retry the head now (?key= on a subscription with ordering key)', [...sub, keyParam], { type: 'object', properties: { retried: { type: 'string' }, key: { type: ['string', 'null'] } }, required: ['retried', 'key'] }, { responses: conflict }),
      },
      '/v1/topics/{topic}/subscriptions/{sub}/skip': {
        post: answers('Move the head aside and go on (?key= on a subscription with ordering key)', [...sub, keyParam], { type: 'object', properties: { skipped: delivery }, required: ['skipped'] }, { responses: conflict }),
      },
      '/v1/topics/{topic}/subscriptions/{sub}/seek': {
        post: {
          summary: 'Move the subscription to a sequence or a time, backward (replay) or forward (skip ahead), in every lane (operator role)',
          description:
            'The next event becomes the first kept event at or after the point. Delivered events from there on are delivered again with their first lane positions; undelivered events before it become skipped (GET …/skipped lists them). Deliveries in flight are fenced and their lanes wait out the lease they held; stalls are cleared.',
          parameters: sub,
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/SeekInput' }) },
          responses: {
            '200': { description: 'Moved', ...json({ $ref: '#/components/schemas/SeekResult' }) },
            ...problems,
            '409': { description: 'The point is older than what the topic keeps (topics.<topic>.retention), or past its last sequence: the detail names the oldest or newest point to seek to', content: { 'application/problem+json': { schema: problem } } },
          },
        },
      },
      '/v1/topics/{topic}/subscriptions/{sub}/skipped': { get: page('Skipped events', sub) },
      '/v1/topics/{topic}/subscriptions/{sub}/skipped/redeliver': { post: answers('Redeliver skipped events (all, or { ids })', sub, count('redelivered'), { requestBody: idsBody }) },
      '/v1/queues/{name}/pause': { post: answers('Pause deliveries', [nameParam('name')], paused) },
      '/v1/queues/{name}/resume': { post: answers('Resume deliveries', [nameParam('name')], paused) },
      '/v1/topics/{name}/pause': { post: answers('Pause every subscription of the topic', [nameParam('name')], paused) },
      '/v1/topics/{name}/resume': { post: answers('Resume the topic', [nameParam('name')], paused) },
      '/v1/topics/{topic}/subscriptions/{sub}/pause': { post: answers('Pause one subscription', sub, paused) },
      '/v1/topics/{topic}/subscriptions/{sub}/resume': { post: answers('Resume one subscription', sub, paused) },
      '/v1/drain': {
        post: {
          summary: 'Test setups (testing.drain): deliver everything due on the channels now, then answer with what is left and why',
          description:
            'Operator role. Answers once nothing of the channels is due or in flight (with skipBackoff, waiting retries are due now); work that deliveries create is drained too, up to maxRounds. Running out of time or rounds still answers 200, with complete: false and stoppedBy. Refused with 403 (drain_disabled) unless the configuration says testing: { drain: true }.',
          requestBody: { required: false, ...json({ $ref: '#/components/schemas/DrainInput' }) },
          responses: {
            '200': { description: 'Drained (complete), or stopped by its timeout or round limit', ...json({ $ref: '#/components/schemas/DrainResult' }) },
            '400': problems['400'],
            '403': { description: 'Drain is not enabled on this server, or the key is not an operator key', content: { 'application/problem+json': { schema: problem } } },
          },
        },
      },
      '/v1/deliveries/{token}/complete': {
        post: {
          summary: 'Complete a deferred delivery attempt (asynchronous acknowledgement): the endpoint answered 202, this reports its outcome',
          description:
            "The token is the Offload-Completion-Token header of the delivery request (targets with asyncTimeout). Producers of the delivery's channel (a subscription's topic) and operators may complete. The attempt is settled as if the call had answered with the outcome: delivered, retry (after retryAfter seconds, or the backoff) or permanent (dead-lettered, parked or stalled by the target's policy). For an ordered batch, appliedThrough delivers the events up to it; the rest is settled by the outcome (released untried after delivered). A token whose attempt was settled already answers 409 already_completed and changes nothing (a repeated completion may count as done); one whose delivery a later attempt took over (its deferral timed out, or its lease was lost) answers 409 superseded and changes nothing.",
          parameters: [nameParam('token')],
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/CompletionInput' }) },
          responses: {
            '200': {
              description: 'Settled',
              ...json({
                type: 'object',
                properties: {
                  status: { const: 'completed' }, target: { type: 'string' }, lane: { type: ['string', 'null'] },
                  outcomes: { type: 'array', items: { type: 'object', properties: { outcome: { enum: ['delivered', 'retrying', 'deadlettered', 'parked', 'stalled'] }, ids: { type: 'array', items: { type: 'string' } } } } },
                },
                required: ['status', 'target', 'lane', 'outcomes'],
              }),
            },
            '400': problems['400'],
            '403': { description: "The key may not complete deliveries of this channel (a viewer, or a producer of other channels)", content: { 'application/problem+json': { schema: problem } } },
            '404': { description: 'No delivery attempt has this token (malformed, forged, or its message was swept)', content: { 'application/problem+json': { schema: problem } } },
            '409': { description: 'already_completed: this attempt was settled before; superseded: a later attempt took the delivery over. Nothing changed', content: { 'application/problem+json': { schema: problem } } },
          },
        },
      },
      '/v1/events': {
        get: {
          summary: 'Live stream of delivery and channel events (Server-Sent Events)',
          parameters: [
            query('types', `comma-separated event types to keep: ${EVENT_TYPES.join(', ')}`),
            query('token', 'a token from POST /v1/events/token, for clients that cannot send a key (EventSource)'),
          ],
          responses: { '200': { description: 'text/event-stream' }, '400': problems['400'] },
        },
      },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1', ...json({ type: 'object' }) } } } },
      '/v1/events/token': { post: { summary: 'A token for GET /v1/events?token= (EventSource cannot send a key); valid for one minute, on this instance, for the stream only', responses: { '200': { description: '{ token, expiresAt }' } } } },
      '/healthz': { get: { summary: 'The process is up', responses: { '200': { description: 'OK' } } } },
      '/readyz': { get: { summary: 'The store is reachable and deliveries run', responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text/plain' } } } },
    },
    components: {
      schemas: {
        Schedule: {
          type: 'object',
          properties: {
            name: { type: 'string' }, cron: { type: 'string' }, timezone: { type: 'string' }, queue: { type: 'string' }, topic: { type: 'string' },
            type: { type: 'string' }, key: { type: ['string', 'null'] }, catchUp: { enum: ['none', 'latest', 'all'] }, paused: { type: 'boolean' },
            lastRunAt: { type: ['string', 'null'], format: 'date-time', description: 'the newest tick whose message was sent' },
            nextRunAt: { type: ['string', 'null'], format: 'date-time', description: 'the next tick; null while paused' },
          },
          required: ['name', 'cron', 'timezone', 'type', 'key', 'catchUp', 'paused', 'lastRunAt', 'nextRunAt'],
        },
        SeekInput: {
          description: 'Exactly one of sequence or time',
          oneOf: [
            { type: 'object', properties: { sequence: { type: 'integer', minimum: 1, description: 'the first event to deliver next' } }, required: ['sequence'], additionalProperties: false },
            { type: 'object', properties: { time: { type: 'string', format: 'date-time', description: 'the first event published at or after this time (with a time zone)' } }, required: ['time'], additionalProperties: false },
          ],
        },
        SeekResult: {
          type: 'object',
          properties: {
            subscription: { type: 'string' },
            sequence: { type: 'integer', description: 'the point as a sequence: the next event is the first kept one at or after it' },
            replayed: { type: 'integer', description: 'delivered events made undelivered again' },
            skipped: { type: 'integer', description: 'undelivered events before the point, now skipped' },
            fenced: { type: 'integer', description: 'deliveries that were in flight, now fenced' },
          },
          required: ['subscription', 'sequence', 'replayed', 'skipped', 'fenced'],
        },
        MessageInput: z.toJSONSchema(messageInputSchema, { unrepresentable: 'any', io: 'input' }),
        BatchInput: z.toJSONSchema(batchInputSchema, { unrepresentable: 'any', io: 'input' }),
        CompletionInput: z.toJSONSchema(completionInputSchema, { unrepresentable: 'any', io: 'input' }),
        DrainInput: z.toJSONSchema(drainInputSchema, { unrepresentable: 'any', io: 'input' }),
        IdsInput: z.toJSONSchema(idsInputSchema, { unrepresentable: 'any', io: 'input' }),
        DrainResult: drainResult,
        Problem: {
          type: 'object',
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } } },
        },
      },
    },
  };
}

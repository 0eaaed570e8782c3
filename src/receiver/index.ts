/**
 * `offload/receiver`: the receiving side of an Offload endpoint. Verifies Standard Webhooks
 * signatures, reads CloudEvents (single and batch), calls a handler per event type, maps its
 * outcome to the status codes Offload understands, and with an inbox applies each message once.
 * It imports nothing from the server; the framework adapters import their framework's types only.
 */
export { createReceiver, withSchema, type Receiver, type ReceiverOptions, type DeliveryContext, type LaneInfo, type EventHandler, type SchemaHandler, type HandlerEntry, type RawDelivery } from './receiver.js';
export type { ReceivedEvent } from './cloud-events.js';
export { retryAfter, permanent, ok, appliedThrough, RetryAfter, PermanentFailure, Ok, AppliedThrough, type Outcome, type HandlerResult } from './outcomes.js';
export type { ReceiverResponse } from './responses.js';
export type { Inbox, InboxResult, InboxOptions, LaneLedger } from './inbox.js';
export { postgresInbox, type PostgresInboxOptions, type PgClientLike, type PgPoolLike } from './postgres-inbox.js';
export { sqliteInbox, type SqliteInboxOptions, type SqliteDatabaseLike } from './sqlite-inbox.js';
export { fastifyPlugin, type FastifyPluginOptions } from './fastify-plugin.js';
export { expressMiddleware, type ExpressRequestLike } from './express-middleware.js';
export { honoMiddleware, type HonoContextLike } from './hono-middleware.js';
export type { StandardSchemaV1, InferOutput } from './standard-schema.js';

/** The Offload package: run the service in-process, or use its parts. */
export { createOffload, describeStore, type Offload, type OffloadOptions } from './offload.js';
export { buildConfig, loadConfigFile, type OffloadConfig } from './config/load.js';
export type { ConfigInput } from './config/schema.js';
export { createSqliteStore, type SqliteStore, type SqliteStoreOptions } from './storage/sqlite/sqlite-store.js';
export type * from './storage/port.js';
export { newMessage, type NewMessage, type StoredMessage, type MessageStatus, type MessageMetadata, type AttemptRecord } from './domain/message.js';
export { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from './storage/postgres/index.js';
export { OffloadError, ValidationError, NotFoundError, ConflictError, PayloadTooLargeError, StoreUnavailableError, ConfigError } from './domain/errors.js';
export { verifySignature, signatureHeaders } from './delivery/signing.js';
export { createClient, OffloadApiError, rawJson, RawJson, type OffloadClient, type MessageInput, type SendResult } from './client/index.js';

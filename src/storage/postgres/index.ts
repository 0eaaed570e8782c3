export { createPostgresStore, type PostgresStore, type PostgresStoreOptions, type WakeListenerFn } from './postgres-store.js';

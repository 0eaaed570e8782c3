/** Test tools: an in-process Offload for API test suites (startTestOffload), a fault-injecting receiver and a history checker. */
export { createFaultReceiver } from './fault-receiver.js';
export type { AppliedView, FaultReceiver, FaultReceiverOptions, WaiterOptions } from './fault-receiver.js';
export type { Fault, FaultKind, Latency } from './faults.js';
export type { Exclusivity } from './exclusivity.js';
export type { ReceivedEvent } from './cloud-events.js';
export type { Decider, Outcome, OverlapViolation, ReceivedRequest, RequestRecord } from './request-record.js';
export {
  always,
  byProbability,
  createFaultSwitch,
  createSeededRandom,
  firstAttempts,
  firstOf,
  forIds,
  forKeys,
  scripted,
  until,
} from './deciders.js';
export type { FaultSwitch, ProbabilityOptions, RequestFilter } from './deciders.js';
export { createIdempotentLedger } from './idempotent-ledger.js';
export type { IdempotentLedger } from './idempotent-ledger.js';
export { assertHistory, checkHistory } from './history-checker.js';
export type * from './history-types.js';
export { DrainIncompleteError, startTestOffload } from './test-offload.js';
export type { TestOffload, TestOffloadConfig, TestOffloadOptions } from './test-offload.js';
export type { DrainOptions, DrainResult, UndeliveredMessage, UndeliveredReason } from '../client/index.js';

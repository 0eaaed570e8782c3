import { NotFoundError, ValidationError } from '../domain/errors.js';
import { outboxProblem, storableProblem, type NewMessage } from '../domain/message.js';
import type { ChannelRowBase } from './rows.js';

/**
 * What both adapters refuse before storing messages, so that a message one accepts the other
 * accepts too: writing to a subscription (messages are published to its topic), and NUL
 * characters, which PostgreSQL text cannot hold (refusing one message rather than failing a
 * shared commit); a message without an id or type, a fifo message without a key, a delayed
 * topic event; and a priority or expiry out of range or on a fifo queue or topic.
 */
export function assertProducible(channel: ChannelRowBase, messages: readonly NewMessage[]): void {
  if (channel.kind === 'subscription') throw new NotFoundError(`'${channel.name}' is a subscription; publish to its topic`);
  for (const m of messages) {
    const problem = storableProblem(channel.kind, m);
    if (problem) throw new ValidationError(`message '${String(m.id).slice(0, 200)}' on '${channel.name}': ${problem.message}`, [{ path: problem.field, message: problem.message }]);
    if (m.data.includes('\u0000')) throw new ValidationError(`message '${m.id}' contains a NUL character`);
  }
}

/** assertProducible, and what the HTTP API also refuses and only the outbox could hand a store (outboxProblem). */
export function assertOutboxProducible(channel: ChannelRowBase, messages: readonly NewMessage[]): void {
  if (channel.kind === 'subscription') throw new NotFoundError(`'${channel.name}' is a subscription; publish to its topic`);
  // The outbox's own rule first: its names are the API's (1-200 characters), narrower than a store's.
  for (const m of messages) {
    const problem = outboxProblem(m);
    if (problem) throw new ValidationError(`message '${String(m.id).slice(0, 200)}' on '${channel.name}': ${problem.message}`, [{ path: problem.field, message: problem.message }]);
  }
  assertProducible(channel, messages);
}

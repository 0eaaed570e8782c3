import { NotFoundError, ValidationError } from '../domain/errors.js';
import type { NewMessage } from '../domain/message.js';
import type { ChannelRowBase } from './rows.js';

/**
 * What both adapters refuse before storing messages, so that a message one accepts the other
 * accepts too: writing to a subscription (messages are published to its topic), and NUL
 * characters, which PostgreSQL text cannot hold (refusing one message rather than failing a
 * shared commit).
 */
export function assertProducible(channel: ChannelRowBase, messages: readonly NewMessage[]): void {
  if (channel.kind === 'subscription') throw new NotFoundError(`'${channel.name}' is a subscription; publish to its topic`);
  for (const m of messages) {
    if (`${m.id}${m.key ?? ''}${m.type}${m.data}`.includes('\u0000')) throw new ValidationError(`message '${m.id}' contains a NUL character`);
  }
}

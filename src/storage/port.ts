import type { AttemptRecord, MessageStatus, NewMessage, StoredMessage } from '../domain/message.js';
import type { Decision } from '../domain/decide.js';
import type { Clock } from '../domain/clock.js';
import type { DrainCandidate } from '../domain/drain.js';
import type { MessageFilter } from './message-search.js';

export type { MessageFilter } from './message-search.js';
import type { RateLimit } from '../domain/rate-limit.js';
import type { SubscriptionFilter } from '../domain/subscription-filter.js';
import type { SeekPoint } from '../domain/seek.js';

/**
 * The storage port: everything Offload keeps goes through these methods. Every adapter
 * (SQLite, PostgreSQL) implements it and passes the one conformance suite in
 * `test/storage/conformance.ts`. It exposes no connection or transaction type; the outbox
 * (writing messages inside an application's own transaction) is a separate, adapter-specific
 * entry point.
 *
 * Targets are named: a queue by its name, a subscription as `topic/subscription`.
 * Times are epoch milliseconds taken from the clock the store was created with.
 */
export interface Store {
  /**
   * The clock stored times (leases, retry and delay times, breaker cool-downs) are stamped with:
   * the process clock on SQLite, the database server's on PostgreSQL. Whoever computes such a
   * time (the dispatcher's decisions) reads this clock, so every instance shares one timeline.
   */
  readonly clock: Clock;

  /** Creates or upgrades the schema (numbered migrations, idempotent, safe with concurrent instances). */
  migrate(): Promise<void>;

  /**
   * Declares the channels in use. New queues, topics and subscriptions are created; a new
   * subscription with `startFrom: 'beginning'` receives every retained message of its topic that
   * passes its filter. Existing ones are left as they are (channels missing from the list are not
   * deleted), except a subscription's filter, which is replaced by the declared one (none
   * declared: none kept) and applies to the messages published after this call.
   */
  declare(channels: readonly ChannelDeclaration[]): Promise<void>;

  /**
   * Stores messages on a queue (kind `queue` or `fifo`) or publishes them to a topic (one
   * delivery per subscription whose filter the message passes, and a sequence that follows commit order), durably: the promise
   * resolves only after the commit is durable. Concurrent calls share one commit. A message
   * whose id was already accepted on that channel is not stored again: its result says
   * `duplicate: true` with the original message's status. Results are in input order.
   */
  send(channel: string, messages: readonly NewMessage[]): Promise<SendResult[]>;

  /**
   * Claims deliveries of one target under a lease owned by `owner` for `leaseMs`, incrementing
   * each delivery's attempt number and lease epoch. Unordered targets return up to `limit`
   * single-delivery claims; ordered targets return up to `limit` lanes, each with its head (or,
   * with `batchSize` > 1, up to that many messages from its head, in order), and never a lane
   * that is already leased, parked, or waiting for a retry. Paused targets return nothing.
   * Expired leases are claimable again.
   */
  claim(request: ClaimRequest): Promise<Claim[]>;

  /**
   * claim, and when it returns fewer than `limit`, the target's nextWakeAt as read right after it:
   * what a woken dispatcher asks, in one step (on PostgreSQL one round trip for unordered targets).
   */
  claimOrLookAhead(request: ClaimRequest): Promise<ClaimOrLookAhead>;

  /**
   * Lets sends to a queue claim for this instance in their own transaction (a hand-off): as a
   * send to a queue is stored, `handOff.offer(queue)` may answer how many of the queue's due
   * deliveries this instance starts at once; the send's transaction then claims them as
   * claimOrLookAhead would (due order, priority, pause, expiry) and, once the send is durable,
   * gives them to the offer's `taken`, which every offer gets exactly once ([] when the send
   * failed). A target whose send claimed is not woken for it: the claim and its look-ahead
   * answered what a wake-up would ask. One hand-off per store; returns its removal.
   */
  handOffSends(handOff: SendHandOff): () => void;

  /** Extends the leases still held (matching epoch). Returns the delivery ids whose lease was lost. */
  renew(leases: readonly LeaseRef[], leaseMs: number): Promise<number[]>;

  /**
   * Records the outcome of attempts: each settlement carries the attempt record and the
   * decision. A settlement whose epoch is no longer current (the lease was lost and taken over)
   * changes nothing and is reported `fenced`. For ordered targets the lane moves on (delivered,
   * dead-lettered), waits (retry, stall) or stops (park).
   */
  settle(settlements: readonly Settlement[]): Promise<SettleResult[]>;

  /**
   * Settles, then claims again from the same target, as one step where the adapter can: a
   * subscription with one lane (ordering `topic`) moves from one event to the next without a
   * round of the event loop and a transaction in between.
   */
  settleAndClaim(settlements: readonly Settlement[], next: ClaimRequest): Promise<SettleAndClaim>;

  /** Gives leased deliveries back untried (graceful shutdown): available now, attempt not counted. */
  release(leases: readonly LeaseRef[]): Promise<void>;

  /**
   * Asynchronous acknowledgement: the endpoint answered 202 and will complete later. Each lease
   * still current (matching epoch, delivering) stays in flight: its lease (and its lane's) is held
   * until `holdUntil`, and the attempt is marked deferred with `deadline` as the time the
   * completion must come by. Returns, per lease, whether it was deferred (false: fenced).
   */
  defer(leases: readonly LeaseRef[], deadline: number, holdUntil: number): Promise<boolean[]>;

  /**
   * Takes over the deferred attempts of `target` whose deadline passed (at most `limit` lanes or
   * deliveries): each gets a new epoch and a lease for `owner` of `leaseMs`, without counting an
   * attempt, so that the taker settles the timed-out attempt (recorded as failed) while a late
   * completion with the old token is fenced. An ordered batch comes back as one group.
   */
  expireDeferred(request: { target: string; owner: string; leaseMs: number; limit: number }): Promise<InFlightGroup[]>;

  /**
   * The attempt a completion token names (delivery and epoch), with every delivery of its call
   * (an ordered batch: the lane's deliveries in flight, in order). Or why it cannot be completed:
   * `missing` (no such delivery), `superseded` (a later attempt took it over: lease lost, or its
   * deferral timed out), `settled` (this attempt was settled already: completed before, or released).
   */
  findInFlight(deliveryId: number, epoch: number): Promise<InFlightGroup | 'missing' | 'superseded' | 'settled'>;

  /**
   * The target a delivery belongs to, or null when there is no such delivery: a completion of an
   * attempt that was settled or taken over checks the caller may act on its channel before saying so.
   */
  deliveryTarget(deliveryId: number): Promise<string | null>;

  /**
   * The secret completion tokens are signed with, created on first use and shared by every
   * instance on this store, so any of them can check a token minted by another.
   */
  completionKey(): Promise<string>;

  /** Earliest time something of the target may become claimable (retries, delays, leases), or null. */
  nextWakeAt(target: string): Promise<number | null>;

  /** A message and each of its deliveries (one per queue, one per subscription), with attempts. */
  getMessage(id: string, channel?: string): Promise<MessageView[]>;

  /**
   * Messages matching every given filter, newest first, each with its deliveries (without their
   * attempts; `getMessage` has those). A subscription as `channel` matches its topic's messages
   * and applies `status` to that subscription's deliveries. The cursor is the `next` of the
   * previous page. A page looks at no more than `examine` messages (default SEARCH_EXAMINES),
   * the newest below the cursor: it may hold fewer than `limit` items, even none, while `next`
   * is set; the next page goes on below the messages this one looked at.
   */
  listMessages(filter: MessageFilter, page: SearchPageRequest): Promise<Page<MessageSummary>>;

  /** Depth, in-flight, oldest age, dead letters, lanes parked/stalled, per target and topic. */
  stats(): Promise<TargetStats[]>;

  listDeadLetters(target: string, page: PageRequest): Promise<Page<DeliveryView>>;
  /** Makes dead-lettered deliveries available again (all, or the given message ids); attempts restart. */
  redrive(target: string, ids?: readonly string[]): Promise<number>;
  /** Deletes dead-lettered deliveries (all, or the given message ids). */
  purgeDeadLetters(target: string, ids?: readonly string[]): Promise<number>;

  /** Pauses or resumes a channel (queue, topic or `topic/subscription`); shared by every instance. */
  setPaused(channel: string, paused: boolean): Promise<void>;

  /** Lanes of an ordered target that are parked or stalled, with their head message and reason. */
  listBlockedLanes(target: string, page: PageRequest): Promise<Page<LaneView>>;
  /** State of one lane (the lane of a topic-ordered subscription is `''`). */
  getLane(target: string, lane: string): Promise<LaneView | null>;
  /** Makes the lane's head available now with a fresh budget of attempts and clears parked/stalled. False when there is no such lane. */
  retryLane(target: string, lane: string): Promise<boolean>;
  /** Moves the lane's head aside (status `skipped`, kept with its history) and lets the lane go on. */
  skipLaneHead(target: string, lane: string): Promise<DeliveryView | null>;
  listSkipped(target: string, page: PageRequest): Promise<Page<DeliveryView>>;
  /** Puts skipped deliveries back in their lane, ahead of its undelivered messages. */
  redeliverSkipped(target: string, ids?: readonly string[]): Promise<number>;

  /**
   * Makes the waiting retries of these targets due now (a drain with `skipBackoff`): unordered
   * deliveries waiting for their next attempt, and the head of each active lane that waits for
   * its next attempt and is not in flight. No attempt is counted and no position changes, so
   * lanes keep their order. Parked and stalled lanes and messages waiting for their
   * `deliverAt` are left as they are. Returns how many deliveries became due.
   */
  hurryRetries(targets: readonly string[]): Promise<number>;

  /**
   * Live deliveries (queued, scheduled, retrying, in flight, parked or stalled) of these
   * targets, in the order of `targets`, then by lane and position (unordered targets: in
   * the order they were stored), at most `limit`, without their payloads: what a drain looks at.
   */
  listLive(targets: readonly string[], limit: number): Promise<LiveDelivery[]>;

  /**
   * Deletes messages created before `olderThan` whose every delivery was delivered, with their
   * deliveries and attempts. A topic named in `topics` keeps its messages until its own cutoff
   * instead (its `retention`). A topic remembers the newest sequence and publish time it lost, so
   * a seek older than what it keeps is refused. It goes in slices, each committed on its own: an
   * aborted `signal` ends it before the next slice (a shutdown does not wait for a long sweep),
   * and it resolves with what it deleted until then.
   */
  sweep(olderThan: number, topics?: Readonly<Record<string, number>>, signal?: AbortSignal): Promise<number>;

  /**
   * Moves a subscription to `point` (a sequence, or the first event published at or after a
   * time), backward to replay or forward to skip ahead, in every lane, for every instance; the
   * rules are in src/domain/seek.ts. Deliveries in flight are fenced (their settlement changes
   * nothing) and their lanes wait out the lease they held. NotFoundError for an unknown
   * subscription; ValidationError when `subscription` is not one; ConflictError when the point is
   * older than what the topic keeps, or past its last sequence.
   */
  seek(subscription: string, point: SeekPoint): Promise<SeekResult>;

  /**
   * Dead-letters, with reason `expired` and without an attempt, up to `limit` live deliveries
   * (plain queues, paused or not) whose `expiresAt` has passed: waiting ones, and delivering ones
   * whose lease expired. A delivery in flight under a current lease is left to finish its attempt.
   * Claims never take an expired delivery, so this is what moves one out. Returns what it expired.
   */
  expire(limit: number): Promise<ExpiredDelivery[]>;

  /** Circuit breaker states shared by every instance on this store (SPEC §5). */
  listBreakers(): Promise<BreakerRecord[]>;
  /** Records a breaker transition; the newest `updatedAt` per origin wins. */
  saveBreaker(record: BreakerRecord): Promise<void>;

  /**
   * Takes up to `count` permits from the rate limit `key` (an endpoint) for calls about to start.
   * The bucket (src/domain/rate-limit.ts) is shared by every instance on this store; PostgreSQL
   * keeps its time on the database clock. `waitMs`: when fewer were granted, ms until the next one.
   * `token` identifies the bucket state this take left, for `returnRatePermits`.
   */
  takeRatePermits(key: string, limit: RateLimit, count: number): Promise<RatePermits>;
  /**
   * Gives back permits taken but not used (fewer deliveries were ready than permits taken), only
   * while no one took from the bucket since (its state is still `token`): a give-back after a later
   * take could hand out more than the burst. Returns whether they were given back.
   */
  returnRatePermits(key: string, limit: RateLimit, count: number, token: number): Promise<boolean>;
  /**
   * Takes up to `count` concurrency slots of `key` (an endpoint) for `owner` (an instance), which
   * holds `held` of them already, so that the slots of every owner whose hold has not expired add
   * up to at most `limit`. The owner's hold becomes `held` + granted, with the slots it did not get
   * recorded as wanted (held and wanted none: it is removed), and expires `ttlMs` from now;
   * expired holds of the key are removed. Takes of one key are serialized
   * (PostgreSQL locks the key's row; SQLite takes the write lock), so two owners never both get the
   * last slot. `held` restates what the owner holds, so a hold that expired while its owner was cut
   * off from the store is restored. The answer says how the key is shared now (see SlotShare).
   */
  takeConcurrencySlots(request: SlotRequest): Promise<SlotGrant>;
  /**
   * Sets what `owner` holds and still wants of each key (fewer held after calls ended: a release;
   * none of either removes its row) and makes every hold given expire `ttlMs` from now: an
   * owner's releases and renewals for all its endpoints in one write. An owner that
   * stops calling this loses its slots when they expire. Returns how each key is shared now, in
   * the order given, so a holder learns that others wait.
   */
  holdConcurrencySlots(owner: string, holdings: readonly SlotHolding[], ttlMs: number): Promise<SlotShare[]>;
  /** Holds that have not expired, by key then owner. */
  listConcurrencySlots(): Promise<SlotHolder[]>;
  /** Shared state of recurring schedules (those that ever ran or were paused), by name. */
  listSchedules(): Promise<ScheduleState[]>;
  /**
   * Records that a schedule dealt with every tick up to `handledUntil` and, when it sent one,
   * the newest tick sent. Never moves either back (another instance may be ahead); creates the row.
   */
  advanceSchedule(name: string, handledUntil: number, lastRunAt: number | null): Promise<void>;
  /**
   * Pauses or resumes a schedule for every instance. Resuming moves `handledUntil` to `at` so
   * the ticks that passed while it was paused are not sent.
   */
  setSchedulePaused(name: string, paused: boolean, at: number): Promise<void>;

  /**
   * Calls `listener` with the targets (queues, `topic/subscription`) that may have new work as
   * soon as a send commits: this store's sends, and, where the adapter can hear them, other
   * instances' and outbox transactions' commits. Best effort: dispatchers also poll. Returns
   * the unsubscribe.
   */
  onWake(listener: (targets: string[]) => void): () => void;

  /**
   * Calls `listener` with the targets a pause (of a queue, a topic, a subscription) or a seek
   * just stopped or moved: through this store at once, and where the adapter can hear them,
   * through other instances on the same database. A dispatcher then sends nothing more of what
   * it claimed ahead for them. Best effort: a window it misses ends by itself. Returns the
   * unsubscribe.
   */
  onHold(listener: (targets: string[]) => void): () => void;

  /** Cheap round trip used by readiness checks; rejects when the store cannot be used. */
  ping(): Promise<void>;

  /**
   * A durable write that changes nothing (one row is rewritten as it is), to learn whether the
   * store accepts writes again after one failed (disk full, I/O error, read-only). Rejects as
   * any write would.
   */
  probeWrite(): Promise<void>;

  close(): Promise<void>;
}

export interface ChannelDeclaration {
  /** Queue or topic name, or `topic/subscription`. */
  name: string;
  kind: 'queue' | 'fifo' | 'topic' | 'subscription';
  /** Subscriptions: their topic. */
  topic?: string;
  /** Subscriptions: `key` keeps one lane per partition key, `topic` one lane. */
  ordering?: 'none' | 'key' | 'topic';
  startFrom?: 'latest' | 'beginning';
  /**
   * Subscriptions: only messages passing it are fanned out to the subscription (no delivery for
   * the others); absent or null: every message. See src/domain/subscription-filter.ts.
   */
  filter?: SubscriptionFilter | null;
  /**
   * Plain queues: time to live of messages stored from now on (counted from when each is due),
   * unless a message has its own `expiresAt`; null or absent: none. Declaring again updates it.
   */
  ttlMs?: number | null;
}

export interface ExpiredDelivery {
  target: string;
  messageId: string;
}

export interface SeekResult {
  /** The point as a sequence: the subscription's next event is the first kept one at or after it. */
  sequence: number;
  /** Delivered events made undelivered again (or given a delivery they never had). */
  replayed: number;
  /** Undelivered events before the point, now `skipped`. */
  skipped: number;
  /** Deliveries that were in flight and are fenced. */
  fenced: number;
}

export interface SendResult {
  id: string;
  status: MessageStatus;
  duplicate: boolean;
  /** Topic messages: the assigned sequence. */
  sequence?: number;
}

export interface ClaimRequest {
  target: string;
  /** Deliveries (unordered) or lanes (ordered) to claim at most. */
  limit: number;
  owner: string;
  leaseMs: number;
  /** Ordered targets: messages per lane claim, in order. Default 1. */
  batchSize?: number;
  /**
   * With batchSize > 1: a lane holding fewer than batchSize messages is not claimed until its
   * head is this old (it waits for the batch to fill). Default 0.
   */
  maxBatchWaitMs?: number;
  /**
   * settleAndClaim: when its claim comes up short, it also answers the target's nextWakeAt, in
   * the same step (on PostgreSQL the same round trip for unordered targets). Default false.
   */
  lookAhead?: boolean;
}

export interface ClaimedDelivery {
  deliveryId: number;
  epoch: number;
  /** 1-based attempt number of this delivery. */
  attempt: number;
  message: StoredMessage;
  /** Ordered targets: where this message stands among the messages its lane delivered. */
  lanePosition?: LanePosition;
}

/**
 * A message's place in its lane: `position` n means n - 1 messages of the lane were delivered
 * before it (gap-free: only deliveries count, so a skipped or dead-lettered message takes no
 * position), and `previousId` is the last of them, null for the lane's first. A repeat of a
 * delivery (after a crash or a timeout) carries the same position.
 */
export interface LanePosition {
  /** The lane: the key (fifo, `ordering: key`), or `''` for the one lane of `ordering: topic`. */
  lane: string;
  position: number;
  previousId: string | null;
}

export interface Claim {
  target: string;
  /** null for unordered targets. */
  lane: string | null;
  deliveries: ClaimedDelivery[];
}

export interface LeaseRef {
  deliveryId: number;
  epoch: number;
}

export interface Settlement extends LeaseRef {
  decision: Decision;
  attempt: AttemptRecord;
  /** Delivered: the response body excerpt kept as the message's result. */
  result?: string | null;
}

/** One call in flight: a single delivery, or an ordered batch from the head of its lane. */
export interface InFlightGroup {
  target: string;
  /** null for unordered targets. */
  lane: string | null;
  /** When the endpoint answered 202 (null: not deferred, the call's answer has not been recorded). */
  deferredAt: number | null;
  /** In order; `expiresAt`: when the message expires (plain queues), or null. */
  deliveries: Array<LeaseRef & { attempt: number; messageId: string; expiresAt: number | null }>;
}

/** `blocked`: this settlement parked or stalled a lane that was not already (alert once). */
export type SettleResult = 'ok' | 'fenced' | 'blocked';

export interface PageRequest {
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string | null;
}

export interface SearchPageRequest extends PageRequest {
  /** Messages the page looks at, at most (the newest below the cursor). */
  examine?: number;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface DeliveryView {
  target: string;
  status: MessageStatus;
  attempts: number;
  lane: string | null;
  availableAt: number | null;
  lastError: string | null;
  result: string | null;
  updatedAt: number;
  message: StoredMessage;
  history: AttemptRecord[];
}

export interface MessageView {
  message: StoredMessage;
  deliveries: DeliveryView[];
}

/** A listed message: its deliveries without their attempt history. */
export interface MessageSummary {
  message: StoredMessage;
  deliveries: Array<Omit<DeliveryView, 'message' | 'history'>>;
}

export interface LaneView {
  target: string;
  lane: string;
  state: 'active' | 'parked' | 'stalled';
  reason: string | null;
  /** Undelivered messages in the lane. */
  pending: number;
  since: number | null;
  head: DeliveryView | null;
}

/** A dispatcher's standing offer to start what sends store at once (Store.handOffSends). */
export interface SendHandOff {
  /** How many due deliveries of queue `target` to claim for this instance in the send's transaction, or null for none. */
  offer(target: string): SendLease | null;
}

export interface SendLease {
  owner: string;
  leaseMs: number;
  /** At most this many (above 0). */
  limit: number;
  /**
   * Once the send's transaction committed: what it claimed (as claim answers it), and when that
   * came up short the target's nextWakeAt after it; or [] without a look-ahead when it failed.
   */
  taken(claims: Claim[], nextWakeAt?: number | null): void;
}

/** What settleAndClaim did. */
export interface SettleAndClaim {
  results: SettleResult[];
  claims: Claim[];
  /**
   * Set only when the request asked for `lookAhead` and its claim came up short (fewer than a
   * `limit` above 0): the target's nextWakeAt after the claim, as claimOrLookAhead answers it.
   */
  nextWakeAt?: number | null;
}

/** What claimOrLookAhead found. */
export interface ClaimOrLookAhead {
  claims: Claim[];
  /** Set only when fewer than the limit were claimed: nextWakeAt after the claim. */
  nextWakeAt?: number | null;
}

export interface TargetStats {
  /** Queue name, topic name, or `topic/subscription`. */
  name: string;
  kind: 'queue' | 'fifo' | 'topic' | 'subscription';
  paused: boolean;
  /** Undelivered deliveries (waiting, retrying or in flight). */
  depth: number;
  inFlight: number;
  /** Age in ms of the oldest undelivered message, 0 when none. */
  oldestAgeMs: number;
  deadLettered: number;
  skipped: number;
  delivered: number;
  /** Lanes (keys) blocked: parked (fifo) or stalled (subscriptions). */
  parkedLanes: number;
  stalledLanes: number;
  /** Topics: last assigned sequence. Subscriptions: sequence of the last delivered event. */
  lastSequence?: number;
  /** Topics: the oldest sequence still kept (every event from it on is kept): the earliest point a seek can reach. */
  keptFrom?: number;
  /** Subscriptions with a filter: the stored one, which publishes apply. */
  filter?: SubscriptionFilter;
}

export interface LiveDelivery extends DrainCandidate {
  /** The delivery's lease epoch (with `deliveryId`, what a completion token names). */
  epoch: number;
  /** The message's channel (a subscription's topic). */
  channel: string;
  messageId: string;
  key: string | null;
  type: string;
  lastError: string | null;
}

export interface RatePermits {
  granted: number;
  waitMs: number;
  token: number;
}

export interface SlotRequest {
  key: string;
  owner: string;
  /** Slots the owner holds before this take (what it believes the store has for it). */
  held: number;
  /** More slots wanted. */
  count: number;
  /** Slots every live owner together may hold. */
  limit: number;
  /** The owner's hold expires this long after the take unless renewed. */
  ttlMs: number;
}

/** How a key's slots are shared among the owners whose hold has not expired. */
export interface SlotShare {
  /** Slots held by every live owner, the asking one included. */
  total: number;
  /** Slots the other live owners wanted and did not get at their latest take. */
  waiting: number;
  /** Live owners that hold or want slots, the asking one included when it does. */
  owners: number;
}

export interface SlotGrant extends SlotShare {
  /** Slots granted now (0 to `count`). */
  granted: number;
}

export interface SlotHolding {
  key: string;
  /** Slots the owner holds now; 0 releases them all. */
  held: number;
  /** Slots it still wants and has not got (0 once it no longer waits). */
  wanted: number;
}

export interface SlotHolder {
  key: string;
  owner: string;
  held: number;
  /** Slots it wanted and did not get at its latest take. */
  wanted: number;
  expiresAt: number;
}

export interface BreakerRecord {
  /** Endpoint origin, e.g. `https://api.example.com:443`. */
  origin: string;
  state: 'open' | 'closed';
  /** Open: when a probe may go through. */
  openUntil: number | null;
  reason: string | null;
  updatedAt: number;
}

/** A recurring schedule's shared state (src/domain/schedule.ts). */
export interface ScheduleState {
  name: string;
  /** Every tick up to this time was sent or deliberately passed over. */
  handledUntil: number;
  /** The newest tick whose message was sent, or null. */
  lastRunAt: number | null;
  paused: boolean;
}

/** The asynchronous acknowledgement half of the port: adapters implement it in their deferrals module. */
export type StoreDeferrals = Pick<Store, 'defer' | 'expireDeferred' | 'findInFlight' | 'deliveryTarget' | 'completionKey'>;

/** The schedule half of the port: adapters implement it in their own small module. */
export type StoreSchedules = Pick<Store, 'listSchedules' | 'advanceSchedule' | 'setSchedulePaused'>;

/** What topics keep (the sweep) and seeking over it: adapters implement it in their retention module. */
export type StoreRetention = Pick<Store, 'sweep' | 'seek'>;

/** The operator and inspection half of the port: adapters implement it in their admin module. */
export type StoreAdmin = Pick<
  Store,
  | 'getMessage'
  | 'listMessages'
  | 'stats'
  | 'listDeadLetters'
  | 'redrive'
  | 'purgeDeadLetters'
  | 'setPaused'
  | 'listBlockedLanes'
  | 'getLane'
  | 'retryLane'
  | 'skipLaneHead'
  | 'listSkipped'
  | 'redeliverSkipped'
  | 'hurryRetries'
  | 'listLive'
  | 'listBreakers'
  | 'saveBreaker'
>;

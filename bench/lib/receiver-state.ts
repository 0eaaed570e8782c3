import { summarizeLatencies, type LatencySummary } from './stats.js';

/**
 * What the receiver knows about one stream (one delivery path). A lane is a stream
 * plus a key: order and one-in-flight are checked per lane, which is per key on fifo
 * channels and per subscription on topics (whose messages carry no key).
 */
export interface StreamSnapshot {
  readonly received: number;
  readonly unique: number;
  readonly duplicates: number;
  /** Ids that do not carry the current run tag: leftovers from another run. */
  readonly foreign: number;
  /** Arrivals whose seq is not exactly one more than the lane's previous one. */
  readonly orderViolations: number;
  /** Arrivals that began before the lane's previous response was sent. */
  readonly overlaps: number;
  readonly firstAt: number;
  readonly lastAt: number;
  readonly latency?: LatencySummary;
}

export interface ReceiverSnapshot {
  readonly tag: string;
  readonly malformed: number;
  readonly streams: Readonly<Record<string, StreamSnapshot>>;
}

export interface Arrival {
  readonly id: string;
  readonly seq: number;
  readonly key: string;
  readonly sentAt: number;
}

interface Lane {
  lastSeq: number;
  inFlight: number;
  lastFinish: number;
}

interface Stream {
  received: number;
  duplicates: number;
  foreign: number;
  orderViolations: number;
  overlaps: number;
  firstAt: number;
  lastAt: number;
  ids: Set<string>;
  lanes: Map<string, Lane>;
  latencies: number[];
}

function newStream(): Stream {
  return {
    received: 0, duplicates: 0, foreign: 0, orderViolations: 0, overlaps: 0,
    firstAt: Number.NaN, lastAt: Number.NaN, ids: new Set(), lanes: new Map(), latencies: [],
  };
}

/** Bounds memory if a system floods the receiver: far above any case's message count. */
const MAX_LATENCY_SAMPLES = 2_000_000;

export function createReceiverState() {
  let tag = '';
  let malformed = 0;
  let streams = new Map<string, Stream>();

  function streamOf(name: string): Stream {
    let stream = streams.get(name);
    if (!stream) {
      stream = newStream();
      streams.set(name, stream);
    }
    return stream;
  }

  function laneOf(stream: Stream, key: string): Lane {
    let lane = stream.lanes.get(key);
    if (!lane) {
      lane = { lastSeq: 0, inFlight: 0, lastFinish: Number.NEGATIVE_INFINITY };
      stream.lanes.set(key, lane);
    }
    return lane;
  }

  /**
   * Records one request (one message, or a batch in order) that began arriving at
   * `startedAt`; pair it with `finishRequest`. A batch holds its lanes once, so a
   * batched subscription is not mistaken for overlapping deliveries.
   */
  function arriveRequest(streamName: string, arrivals: readonly Arrival[], startedAt: number): void {
    const stream = streamOf(streamName);
    if (!(stream.firstAt <= startedAt)) stream.firstAt = startedAt;
    if (!(stream.lastAt >= startedAt)) stream.lastAt = startedAt;
    for (const key of new Set(arrivals.map((a) => a.key))) {
      const lane = laneOf(stream, key);
      if (lane.inFlight > 0 || startedAt < lane.lastFinish) stream.overlaps += 1;
      lane.inFlight += 1;
    }
    for (const arrival of arrivals) recordMessage(stream, arrival, startedAt);
  }

  function recordMessage(stream: Stream, arrival: Arrival, startedAt: number): void {
    stream.received += 1;
    if (!arrival.id.startsWith(`${tag}-`)) stream.foreign += 1;
    if (stream.ids.has(arrival.id)) {
      stream.duplicates += 1;
      return;
    }
    stream.ids.add(arrival.id);
    const lane = laneOf(stream, arrival.key);
    if (arrival.seq !== lane.lastSeq + 1) stream.orderViolations += 1;
    lane.lastSeq = Math.max(lane.lastSeq, arrival.seq);
    if (stream.latencies.length < MAX_LATENCY_SAMPLES) stream.latencies.push(startedAt - arrival.sentAt);
  }

  /** The response for a request has been handed to the socket. */
  function finishRequest(streamName: string, arrivals: readonly Arrival[], finishedAt: number): void {
    const stream = streamOf(streamName);
    for (const key of new Set(arrivals.map((a) => a.key))) {
      const lane = laneOf(stream, key);
      lane.inFlight = Math.max(0, lane.inFlight - 1);
      lane.lastFinish = Math.max(lane.lastFinish, finishedAt);
    }
  }

  function snapshot(withLatency: boolean): ReceiverSnapshot {
    const out: Record<string, StreamSnapshot> = {};
    for (const [name, s] of streams) {
      out[name] = {
        received: s.received, unique: s.ids.size, duplicates: s.duplicates, foreign: s.foreign,
        orderViolations: s.orderViolations, overlaps: s.overlaps, firstAt: s.firstAt, lastAt: s.lastAt,
        ...(withLatency ? { latency: summarizeLatencies(s.latencies) } : {}),
      };
    }
    return { tag, malformed, streams: out };
  }

  return {
    arriveRequest,
    finishRequest,
    snapshot,
    malformed(): void {
      malformed += 1;
    },
    reset(newTag: string): void {
      tag = newTag;
      malformed = 0;
      streams = new Map();
    },
  };
}

export type ReceiverState = ReturnType<typeof createReceiverState>;

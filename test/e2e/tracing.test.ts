import { describe, expect, it } from 'vitest';
import { firstAttempts } from '../../src/testing/index.js';
import { startOtlpCollector } from '../support/otlp-collector.js';
import { post, startOffload, testReceiver } from '../support/offload.js';

const PRODUCER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PRODUCER_SPAN = 'b7ad6b7169203331';
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

describe('OpenTelemetry tracing', () => {
  it('exports a server span per send and a client span per attempt, children of the producer trace', async () => {
    const collector = await startOtlpCollector();
    const receiver = await testReceiver({ decide: firstAttempts(1, { kind: 'status', status: 503 }, { ids: ['m-retried'] }) });
    const offload = await startOffload({
      telemetry: { otlp: { url: collector.url }, serviceName: 'offload-under-test' },
      endpoints: { sink: { url: receiver.url } },
      queues: { audits: { endpoint: 'sink', path: '/audits', minBackoff: '10ms', maxBackoff: '20ms' } },
    });

    // A producer trace carried in the message; a caller trace carried on the send request only.
    const sent = await post(offload.url, '/v1/queues/audits/messages', { id: 'm-retried', data: {}, metadata: { traceparent: `00-${PRODUCER_TRACE}-${PRODUCER_SPAN}-01` } });
    expect(sent.status).toBe(202);
    const res = await fetch(`${offload.url}/v1/queues/audits/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
      body: JSON.stringify({ id: 'm-header', data: {} }),
    });
    expect(res.status).toBe(202);
    await receiver.waitFor((r) => r.acceptCounts('/audits').size === 2, { timeoutMs: 10_000 });
    await offload.cleanup(); // flushes the spans still buffered

    const spans = collector.spans();
    expect(new Set(spans.map((s) => s.serviceName))).toEqual(new Set(['offload-under-test']));
    const attempts = spans.filter((s) => s.name === 'deliver audits');
    const sends = spans.filter((s) => s.name === 'send audits');
    expect(sends).toHaveLength(2);
    expect(sends.every((s) => s.kind === 2)).toBe(true);

    // The retried message: two attempts, both children of the producer's span, one outcome each.
    const retried = attempts.filter((s) => s.traceId === PRODUCER_TRACE).sort((a, b) => Number(a.attributes['offload.attempt']) - Number(b.attributes['offload.attempt']));
    expect(retried).toHaveLength(2);
    for (const span of retried) {
      expect(span.kind).toBe(3);
      expect(span.parentSpanId).toBe(PRODUCER_SPAN);
      expect(span.attributes['offload.target']).toBe('audits');
    }
    expect(retried.map((s) => [s.attributes['offload.attempt'], s.attributes['http.response.status_code'], s.attributes['offload.outcome']])).toEqual([
      [1, 503, 'retrying'],
      [2, 200, 'delivered'],
    ]);
    expect(retried[0]!.status.code).toBe(2); // ERROR
    // The endpoint saw each attempt's own span as its parent.
    const seen = receiver.records().filter((r) => r.events[0]?.id === 'm-retried').map((r) => r.headers.traceparent);
    expect(seen).toEqual(retried.map((s) => `00-${PRODUCER_TRACE}-${s.spanId}-01`));

    // The message without a traceparent joined the send's trace: caller → send → attempt.
    const send = sends.find((s) => s.traceId === CALLER_TRACE)!;
    expect(send.parentSpanId).toBe(CALLER_SPAN);
    expect(send.attributes).toMatchObject({ 'messaging.destination.name': 'audits', 'http.response.status_code': 202 });
    const [attempt] = attempts.filter((s) => s.traceId === CALLER_TRACE);
    expect(attempt!.parentSpanId).toBe(send.spanId);
    expect(attempt!.attributes).toMatchObject({ 'offload.attempt': 1, 'offload.outcome': 'delivered', 'http.response.status_code': 200 });
  });

  it('stays off without an OTLP endpoint: the producer traceparent goes out as it came', async () => {
    const receiver = await testReceiver();
    const offload = await startOffload({ endpoints: { sink: { url: receiver.url } }, queues: { audits: { endpoint: 'sink', path: '/audits' } } });
    const traceparent = `00-${PRODUCER_TRACE}-${PRODUCER_SPAN}-01`;
    await post(offload.url, '/v1/queues/audits/messages', { id: 'm-1', data: {}, metadata: { traceparent } });
    await receiver.waitFor((r) => r.acceptCounts('/audits').size === 1, { timeoutMs: 10_000 });
    expect(receiver.records()[0]!.headers.traceparent).toBe(traceparent);
  });
});

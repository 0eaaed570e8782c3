import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { AttemptTracer } from '../delivery/dispatcher.js';

/**
 * OpenTelemetry tracing, built only when an OTLP endpoint is configured. Spans are linked through
 * explicit W3C `traceparent` values (the producer's, then each span's own) rather than a global
 * context manager, so nothing is registered process-wide and an embedding application's own
 * OpenTelemetry setup is left alone.
 */
export interface Tracing extends AttemptTracer {
  /**
   * A server span for one send request, child of the request's `traceparent` header when valid.
   * `traceparent` is the span's own, for messages that carry none, so their attempts join the trace.
   */
  startSend(info: { channel: string; route: string; count: number; traceparent: string | undefined }): { traceparent: string; end(statusCode: number): void };
  /** Sends every span still buffered; then nothing more is exported. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();
const getter = { get: (carrier: Record<string, string>, key: string) => carrier[key], keys: (carrier: Record<string, string>) => Object.keys(carrier) };
const setter = { set: (carrier: Record<string, string>, key: string, value: string) => void (carrier[key] = value) };

function parentContext(traceparent: string | undefined): Context {
  return traceparent ? propagator.extract(ROOT_CONTEXT, { traceparent }, getter) : ROOT_CONTEXT;
}

function traceparentOf(span: Span): string {
  const carrier: Record<string, string> = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, setter);
  return carrier.traceparent!;
}

export function createTracing(options: { tracesUrl: string; serviceName: string; version: string; exportIntervalMs?: number }): Tracing {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName, 'service.version': options.version }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: options.tracesUrl }), scheduledDelayMillis: options.exportIntervalMs ?? 1_000 })],
  });
  const tracer: Tracer = provider.getTracer('offload', options.version);

  return {
    startSend({ channel, route, count, traceparent }) {
      const span = tracer.startSpan(
        `send ${channel}`,
        {
          kind: SpanKind.SERVER,
          attributes: {
            'messaging.system': 'offload',
            'messaging.operation.type': 'send',
            'messaging.destination.name': channel,
            'messaging.batch.message_count': count,
            'http.request.method': 'POST',
            'http.route': route,
          },
        },
        parentContext(traceparent),
      );
      return {
        traceparent: traceparentOf(span),
        end(statusCode) {
          span.setAttribute('http.response.status_code', statusCode);
          if (statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        },
      };
    },
    startAttempt({ target, url, attempt, messageIds, traceparent }) {
      const span = tracer.startSpan(
        `deliver ${target}`,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'messaging.system': 'offload',
            'messaging.operation.type': 'process',
            'messaging.destination.name': target,
            'messaging.message.id': messageIds[0],
            'messaging.batch.message_count': messageIds.length,
            'offload.target': target,
            'offload.attempt': attempt,
            'http.request.method': 'POST',
            'url.full': url,
          },
        },
        parentContext(traceparent),
      );
      return {
        traceparent: traceparentOf(span),
        end({ outcome, statusCode, error }) {
          span.setAttribute('offload.outcome', outcome);
          if (statusCode !== null) span.setAttribute('http.response.status_code', statusCode);
          if (error) span.setAttribute('error.type', error);
          span.setStatus(outcome === 'delivered' ? { code: SpanStatusCode.OK } : { code: SpanStatusCode.ERROR, message: error ?? (statusCode !== null ? `HTTP ${statusCode}` : outcome) });
          span.end();
        },
      };
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}

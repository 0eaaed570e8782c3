/** What `offload init` writes: one channel per workload, each line saying what it does. */
export const STARTER_CONFIG = `# Offload configuration: \`offload check --config offload.yaml\` validates it,
# \`offload serve --config offload.yaml\` runs it. Durations are written like 250ms, 30s, 5m.
# Every setting left out takes the preset's default (README: Configuration reference).

server:
  port: 8080
  host: 127.0.0.1        # loopback: no API keys below, so only this machine may call the API
  # apiKeys:             # Authorization: Bearer <key>; keys come from the environment
  #   - { key: { env: OFFLOAD_OPERATOR_KEY }, role: operator }
  #   - { key: { env: OFFLOAD_PRODUCER_KEY }, role: producer, channels: [emails] }

# One SQLite file (no other server). For several instances use PostgreSQL instead:
#   storage: { postgres: { url: { env: DATABASE_URL }, schema: offload } }
storage:
  sqlite: { path: ./data/offload.db }

# Where work is delivered. URLs live here, never in messages, so a producer cannot make
# Offload call an arbitrary host.
endpoints:
  api:
    url: http://127.0.0.1:9000
    timeout: 10s
    # secret: { env: OFFLOAD_SIGNING_SECRET }   # sign every call (Standard Webhooks)

queues:
  # 1. Ancillary work: order does not matter, calls run in parallel, retried with backoff;
  #    a message that keeps failing (or gets a 4xx) is dead-lettered and the rest go on.
  emails:
    preset: ancillary
    endpoint: api
    path: /emails/deliver
    # concurrency: 16
    # maxAttempts: 10

  # 2. Per-aggregate FIFO: one call in flight per key (e.g. a tenant id), in order; keys
  #    proceed in parallel. \`block\` parks a key whose head cannot succeed, so its later
  #    steps never overtake it; an operator retries or skips it (offload parked …).
  tenant-provisionings:
    preset: aggregate-fifo
    endpoint: api
    path: /provisionings/deliver
    onExhausted: block
    # prefetch: 10     # a key's messages one claim takes ahead, still sent one call at a time

topics:
  # 3. Domain events: every subscription receives every event in publish order and never
  #    dead-letters; a failing subscription stalls and waits (offload subscriptions …).
  domain_events:
    subscriptions:
      read-models:
        preset: domain-events
        endpoint: api
        path: /events
        ordering: topic    # one lane for the whole topic; \`key\` orders per partition key
        # batchSize: 20    # several events per call when catching up
`;

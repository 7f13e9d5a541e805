-- Up Migration

-- Outgoing webhooks. A brand's endpoint subscribes to alert kinds and/or "batch.anchored". Its
-- secret signs every delivery (Standard Webhooks), so it is kept as issued, like webhook_secrets.
-- The cursors say what the endpoint has been given so far: they start at the newest alert and the
-- newest anchored batch when the endpoint is created, so it only gets what happens afterwards.
CREATE TABLE endpoints (
  id               bigserial PRIMARY KEY,
  brand_id         bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  url              text NOT NULL,
  types            text[] NOT NULL CHECK (cardinality(types) >= 1),
  secret           text NOT NULL,
  enabled          boolean NOT NULL DEFAULT true,
  disabled_reason  text,
  disabled_at      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_alert_id    bigint NOT NULL DEFAULT 0,
  last_batch_seq   bigint NOT NULL DEFAULT 0
);
CREATE INDEX endpoints_brand ON endpoints (brand_id, id);

-- One message for one endpoint. webhook_id is the Standard Webhooks `webhook-id`: the same on every
-- retry, so receivers can drop duplicates. source_id is the alert id or the batch seq: the unique
-- key makes fan-out idempotent (a rerun, a crash, or two workers at once insert each message once).
CREATE TABLE deliveries (
  id               bigserial PRIMARY KEY,
  endpoint_id      bigint NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
  webhook_id       text NOT NULL UNIQUE DEFAULT ('msg_' || replace(gen_random_uuid()::text, '-', '')),
  event_type       text NOT NULL,
  source_id        bigint NOT NULL,
  payload          jsonb NOT NULL,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  -- while pending: when to try next (a sender pushes it forward while it holds the message)
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_status      integer,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  UNIQUE (endpoint_id, event_type, source_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id DESC);

-- Every attempt: HTTP status (null when no answer came: a network error or timeout) or error.
CREATE TABLE delivery_attempts (
  id            bigserial PRIMARY KEY,
  delivery_id   bigint NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
  attempted_at  timestamptz NOT NULL,
  status        integer,
  error         text,
  duration_ms   integer NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

-- Down Migration
DROP TABLE delivery_attempts, deliveries, endpoints;

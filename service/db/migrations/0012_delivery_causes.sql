-- Up Migration

-- Outgoing webhooks report coarse causes only (issue 16, SSRF): an attempt's error is one word of
-- a fixed vocabulary (service/core/destinations.ts DELIVERY_ERRORS), never a raw error message
-- naming internal hosts and ports, and its duration is kept only when an HTTP answer came. Rows
-- written before keep nothing finer than the new ones would.
UPDATE delivery_attempts SET error = CASE
    WHEN status IS NOT NULL THEN 'http_status'
    WHEN error LIKE 'no answer within%' THEN 'timeout'
    ELSE 'connection_failed' END
  WHERE error IS NOT NULL;
ALTER TABLE delivery_attempts ALTER COLUMN duration_ms DROP NOT NULL;
UPDATE delivery_attempts SET duration_ms = NULL WHERE status IS NULL;
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_error_coarse
  CHECK (error IN ('refused_destination', 'connection_failed', 'timeout', 'tls_error', 'http_status', 'endpoint_disabled'));

UPDATE deliveries SET last_error = CASE
    WHEN last_error LIKE 'not sent:%' THEN 'endpoint_disabled'
    WHEN last_status IS NOT NULL THEN 'http_status'
    WHEN last_error LIKE 'no answer within%' THEN 'timeout'
    ELSE 'connection_failed' END
  WHERE last_error IS NOT NULL;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_last_error_coarse
  CHECK (last_error IN ('refused_destination', 'connection_failed', 'timeout', 'tls_error', 'http_status', 'endpoint_disabled'));

-- Down Migration
ALTER TABLE deliveries DROP CONSTRAINT deliveries_last_error_coarse;
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_error_coarse;
UPDATE delivery_attempts SET duration_ms = 0 WHERE duration_ms IS NULL;
ALTER TABLE delivery_attempts ALTER COLUMN duration_ms SET NOT NULL;

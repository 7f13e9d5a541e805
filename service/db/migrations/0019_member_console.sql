-- Up Migration

-- Members, the brand's side (issue 20, docs/MEMBERS.md "Console", "Webhooks"): the audited export of
-- members' phone numbers, and the outgoing webhooks member.joined and bottle.claimed.

-- The export names the console user who made it, by console_users' primary key (brand_id, id) since
-- migration 0016 (Citus: a foreign key between distributed tables includes the distribution column).

-- One row per export of members' full phone numbers (the only place they leave the service): who,
-- why (the purpose they stated), when, and how many members it held. The row is written before the
-- first number is sent; row_count and completed_at are set once the file was sent in full, so an
-- export that broke off stays on record with row_count NULL.
CREATE TABLE member_exports (
  brand_id      bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  id            bigserial NOT NULL,
  user_id       bigint NOT NULL,
  username      text NOT NULL,
  purpose       text NOT NULL CHECK (length(purpose) BETWEEN 5 AND 200),
  row_count     integer CHECK (row_count >= 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  completed_at  timestamptz,
  PRIMARY KEY (brand_id, id),
  FOREIGN KEY (brand_id, user_id) REFERENCES console_users (brand_id, id) ON DELETE CASCADE
);
CREATE INDEX member_exports_brand_created ON member_exports (brand_id, created_at DESC);

-- Outgoing webhooks for members: member.joined (source: members.id) and bottle.claimed (source: the
-- claimed event's events.id). Like last_alert_id, the cursors say what an endpoint has been given
-- and trail a few minutes behind (ids from a sequence can commit out of order); the deliveries'
-- unique key keeps each message single. Existing endpoints start at what exists now.
ALTER TABLE endpoints
  ADD COLUMN last_member_id bigint NOT NULL DEFAULT 0,
  ADD COLUMN last_claim_event_id bigint NOT NULL DEFAULT 0;
UPDATE endpoints SET last_member_id = (SELECT COALESCE(max(id), 0) FROM members),
                     last_claim_event_id = (SELECT COALESCE(max(id), 0) FROM events WHERE type = 'claimed');
-- Fan-out finds the newest member and claimed event old enough to move the cursors to by walking
-- ids backwards (members' own key leads with brand_id), and claimed events past a cursor.
CREATE INDEX members_id ON members (id);
CREATE INDEX events_claimed ON events (id) WHERE type = 'claimed';

-- Down Migration
DROP INDEX events_claimed, members_id;
ALTER TABLE endpoints DROP COLUMN last_claim_event_id, DROP COLUMN last_member_id;
DROP TABLE member_exports;

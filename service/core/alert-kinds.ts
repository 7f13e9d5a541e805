/**
 * The kinds of alert the checks raise (rows of `alerts`), and the event types an outgoing-webhook
 * endpoint may subscribe to: any alert kind, and `batch.anchored`.
 */

export const ALERT_KINDS = [
  "price_below",
  "price_above",
  "diversion",
  "sold_twice",
  "received_after_opened",
  "sold_after_opened",
  "sold_without_receiving",
  "unauthorised_receiver",
  "consumer_price_report",
] as const;

export type AlertKind = (typeof ALERT_KINDS)[number];

/** A sealed batch's root is anchored on chain and final (CONFIRMATIONS deep, its block checked). */
export const BATCH_ANCHORED = "batch.anchored";

/**
 * A correction: a batch announced by `batch.anchored` was made final again in another transaction or
 * block (a reorganisation deeper than CONFIRMATIONS, or a new registry). Not subscribed to: every
 * endpoint that was sent the batch's `batch.anchored` gets it.
 */
export const BATCH_REANCHORED = "batch.reanchored";

/** Every event type an endpoint can subscribe to. */
export const WEBHOOK_EVENT_TYPES = [...ALERT_KINDS, BATCH_ANCHORED] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export function isAlertKind(value: string): value is AlertKind {
  return (ALERT_KINDS as readonly string[]).includes(value);
}

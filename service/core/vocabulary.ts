/**
 * SealTrace's domain vocabulary: the event types in a bottle's history, the alert kinds the checks
 * raise, and the event types an outgoing webhook carries. Everything else names them through the
 * types below, so adding one is a change here followed by what the compiler asks for (a label in
 * both languages in service/verify/step-labels.ts, the EPCIS bizStep in core/epcis.ts).
 */

/** What a brand event type means, for the rules that depend on the type. */
export interface BrandEventRule {
  /** Who holds the bottle after the event: the event's party, its destination (`to`), or nobody new. */
  holder: "party" | "to" | null;
  /** Whether the event names the party it ships to (`to`): required when true, refused otherwise. */
  destination: boolean;
  /** Whether the event may carry a price (a sale): refused otherwise. */
  price: boolean;
  /** Whether a store key may post it (service/store/routes.ts; core/custody.ts says when). */
  store: boolean;
}

/**
 * The event types a brand posts (webhook `type`, the console, EPCIS lifecycle steps), in lifecycle
 * order, and their rules. `opened` is also written by SealTrace itself when a cap code is scanned.
 */
export const BRAND_EVENTS = {
  production: { holder: "party", destination: false, price: false, store: false },
  warehouse_in: { holder: "party", destination: false, price: false, store: false },
  warehouse_out: { holder: "to", destination: true, price: false, store: false },
  store_receiving: { holder: "party", destination: false, price: false, store: true },
  retail_sale: { holder: null, destination: false, price: true, store: true },
  opened: { holder: null, destination: false, price: false, store: false },
} as const satisfies Record<string, BrandEventRule>;

export type BrandEventType = keyof typeof BRAND_EVENTS;
export const BRAND_EVENT_TYPES = Object.keys(BRAND_EVENTS) as BrandEventType[];

/** The event types a store key may post. */
export type StoreEventType = { [T in BrandEventType]: (typeof BRAND_EVENTS)[T]["store"] extends true ? T : never }[BrandEventType];
export const STORE_EVENT_TYPES = BRAND_EVENT_TYPES.filter((type): type is StoreEventType => BRAND_EVENTS[type].store);

/**
 * The event types only SealTrace writes: a consumer's scan of the QR code, an EPCIS event that is no
 * lifecycle step, and a buyer's claim of the bottle as a member (issue 20: its data is a salted member
 * reference only). All are recorded in a bottle's chain without changing its state.
 */
export const SEALTRACE_EVENT_TYPES = ["consumer_scan", "epcis", "claimed"] as const;
export type SealtraceEventType = (typeof SEALTRACE_EVENT_TYPES)[number];

/** Every event type of a bottle's history (the `type` of `events` rows). */
export type EventType = BrandEventType | SealtraceEventType;
export const ALL_EVENT_TYPES: readonly EventType[] = [...BRAND_EVENT_TYPES, ...SEALTRACE_EVENT_TYPES];

/** The rules of a brand event type; undefined for SealTrace's own types. */
export function brandEventRule(type: EventType): BrandEventRule | undefined {
  return Object.hasOwn(BRAND_EVENTS, type) ? BRAND_EVENTS[type as BrandEventType] : undefined;
}

/** The kinds of alert the checks raise (rows of `alerts`). */
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
  "resold_after_claim",
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

/** A consumer became a member of the brand (their first claimed bottle). No personal data: the member's id and store. */
export const MEMBER_JOINED = "member.joined";

/** A member claimed (registered) a bottle. No personal data: the member's id, the bottle, the store. */
export const BOTTLE_CLAIMED = "bottle.claimed";

/** Every event type an outgoing-webhook endpoint can subscribe to: any alert kind, `batch.anchored`, and the members' events. */
export const WEBHOOK_EVENT_TYPES = [...ALERT_KINDS, BATCH_ANCHORED, MEMBER_JOINED, BOTTLE_CLAIMED] as const;

/**
 * Words for every value of a vocabulary `K` (a missing one does not compile) that any string may
 * look up: a value read from the database, a form or a proof bundle gets undefined when it is none of K.
 */
export type Labels<K extends string> = Readonly<Record<K, string>> & Readonly<Partial<Record<string, string>>>;

/** `words` as Labels<K>. Call it as labels<K>({ … }): a missing or unknown key does not compile. */
export function labels<K extends string>(words: Record<K, string>): Labels<K> {
  return words;
}

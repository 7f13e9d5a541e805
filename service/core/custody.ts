/**
 * What a store key may write, and when any event may say it happened. Pure: given a bottle's last
 * custody step (its latest event that changes who holds it), the store, the brand's policy and the
 * clock, it says why an event is refused, or nothing.
 *
 * The rule, per bottle (issue 16, point 3):
 * - a store receives only a bottle shipped (warehouse_out) to it, or to a party in its own region,
 *   other than another store, whose shipment is the bottle's latest step: never a bottle another store holds, one already
 *   sold or opened, one never shipped, or one shipped to another region (which would raise a
 *   diversion alert blaming that region's distributor);
 * - a store sells only a bottle whose latest step is its own store_receiving; a brand that lets its
 *   stores skip receiving (`storeSellsUnreceived`) also lets them sell a bottle they could receive
 *   (shipped to them or to their region), never one another store holds;
 * - a store event happened no later than now and no earlier than `storeBackdateHours` before it
 *   reached SealTrace, and not before the bottle's latest step;
 * - no event of anyone (webhook, store, EPCIS) happened more than MAX_CLOCK_SKEW_MS in the future.
 */
import type { EventType, StoreEventType } from "./vocabulary.ts";

/** How far ahead of the server's clock an event's time may be: the senders' clocks are not ours. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** The brand's policy for its stores' own events (brand settings, migration 0013). */
export interface StorePolicy {
  /** How far back from its arrival a store event may be dated, in hours. */
  storeBackdateHours: number;
  /** Whether a store may sell a bottle it never recorded receiving (still never another store's). */
  storeSellsUnreceived: boolean;
}

export const DEFAULT_STORE_POLICY: StorePolicy = { storeBackdateHours: 72, storeSellsUnreceived: false };
/** The largest backdating window a brand may allow: one year. */
export const MAX_STORE_BACKDATE_HOURS = 8_760;

/** A bottle's latest custody step: its latest event other than consumer scans and bare EPCIS events. */
export interface CustodyStep {
  type: EventType;
  party: string | null;
  /** For a warehouse_out: where it went, and that party's kind and region. */
  to: string | null;
  toKind: string | null;
  toRegion: string | null;
  at: Date;
}

export interface StoreActor {
  party: string;
  region: string;
}

/** Why an event dated `occurredAt` cannot have happened yet, or null. */
export function futureRefusal(occurredAt: Date, now: Date): string | null {
  if (occurredAt.getTime() <= now.getTime() + MAX_CLOCK_SKEW_MS) return null;
  return `lies in the future (${occurredAt.toISOString()}, server time ${now.toISOString()}; at most ${MAX_CLOCK_SKEW_MS / 60_000} minutes of clock skew are tolerated)`;
}

/** Why a store event dated `occurredAt`, arriving at `receivedAt`, is dated outside the window, or null. */
export function storeTimeRefusal(occurredAt: Date, receivedAt: Date, policy: StorePolicy, previous: CustodyStep | null): string | null {
  const future = futureRefusal(occurredAt, receivedAt);
  if (future !== null) return future;
  const earliest = receivedAt.getTime() - policy.storeBackdateHours * 3_600_000;
  if (occurredAt.getTime() < earliest) {
    return `is more than ${policy.storeBackdateHours} hours before it was received (${receivedAt.toISOString()}): a store may backdate its events by at most that (the brand's storeBackdateHours)`;
  }
  if (previous !== null && occurredAt.getTime() < previous.at.getTime()) {
    return `is before the bottle's previous step (${previous.type} at ${previous.at.toISOString()})`;
  }
  return null;
}

/** Whether the step is a shipment this store may take in: to the store itself, or to a party of its region that is not another store. */
function shippedToStore(step: CustodyStep, store: StoreActor): boolean {
  if (step.type !== "warehouse_out") return false;
  if (step.to === store.party) return true;
  return step.toKind !== "store" && step.toRegion !== null && step.toRegion === store.region;
}

/** Why `store` may not post `type` for a bottle whose latest custody step is `last` (null: none), or null. */
export function custodyRefusal(type: StoreEventType, last: CustodyStep | null, store: StoreActor, policy: StorePolicy): string | null {
  const at = (step: CustodyStep) => step.at.toISOString();
  if (last === null || last.type === "production" || last.type === "warehouse_in") {
    return type === "store_receiving" || policy.storeSellsUnreceived
      ? "has not been shipped out of a warehouse: a store receives only bottles shipped to it or to its region"
      : "has not been received by this store: record its store_receiving first";
  }
  if (last.type === "retail_sale") return `was already sold (${last.party ?? "?"}, ${at(last)})`;
  if (last.type === "opened") return `was opened (${at(last)})`;
  if (last.type === "store_receiving") {
    if (last.party !== store.party) return `is held by another store (received by ${last.party ?? "?"} at ${at(last)})`;
    return type === "store_receiving" ? `was already received by this store (${at(last)})` : null;
  }
  if (last.type === "warehouse_out") {
    if (!shippedToStore(last, store)) {
      return `was shipped to ${last.to ?? "?"} in region ${last.toRegion ?? "?"}, not to this store or its region (${store.region})`;
    }
    if (type === "store_receiving" || policy.storeSellsUnreceived) return null;
    return "has not been received by this store: record its store_receiving first";
  }
  return `cannot be received or sold after its ${last.type} step`;
}

/**
 * The checks run on every ingested event: price against the guide band, sales region (diversion,
 * naming the distributor responsible and the path taken), and lifecycle anomalies. Pure: given a
 * bottle's whole history (the new events included), it says which alerts the new events raise and
 * which sales region the bottle is assigned.
 */
import { band, guideInForce, priceVerdict, type GuidePrice, type Money } from "./price.ts";
import { brandEventRule, type AlertKind, type EventType } from "./vocabulary.ts";

export interface PartyFact {
  id: string;
  name: string;
  kind: "factory" | "warehouse" | "distributor" | "store";
  region: string;
  authorised: boolean;
}

export interface HistoryEvent {
  eventId: number;
  type: EventType;
  party: string | null;
  to: string | null;
  at: Date;
  price: Money | null;
}

export interface AlertDraft {
  kind: AlertKind;
  serial: string;
  eventId: number;
  party: string | null;
  details: Record<string, unknown>;
}

export interface BottleCheck {
  serial: string;
  /** The region assigned at minting, or null (then the first shipment to a distributor assigns it). */
  region: string | null;
  history: HistoryEvent[];
  /** Event ids the checks are run for (the ones just ingested). */
  fresh: Set<number>;
  /** Stores already named in a diversion alert for this bottle: one alert per bottle and store. */
  divertedTo: Set<string>;
}

/** Who holds the bottle after an event: the receiving party, or the destination of a shipment. */
function holderAfter(event: HistoryEvent): string | null {
  const holder = brandEventRule(event.type)?.holder ?? null;
  return holder === "to" ? event.to : holder === "party" ? event.party : null;
}

export function checkBottle(
  bottle: BottleCheck,
  parties: Map<string, PartyFact>,
  prices: readonly GuidePrice[],
): { alerts: AlertDraft[]; assignedRegion: string | null } {
  const alerts: AlertDraft[] = [];
  let region = bottle.region;
  // Chain order, not claimed times: whatever is received or sold after the opening is in the chain
  // (a cap-code scan appends an `opened` event too) is suspect, even if backdated.
  let openedAt: Date | null = null;
  // Likewise a bottle its buyer claimed as a member (a `claimed` event, issue 20): received or sold
  // again after it, it has come back into the trade (resold, or refilled).
  let claimedAt: Date | null = null;
  const path: { party: string; name: string; region: string; type: string; at: string }[] = [];
  const received = new Set<string>();
  let sold = 0;
  const raise = (event: HistoryEvent, kind: AlertKind, details: Record<string, unknown>) => {
    if (bottle.fresh.has(event.eventId)) alerts.push({ kind, serial: bottle.serial, eventId: event.eventId, party: event.party, details });
  };

  for (const event of bottle.history) {
    const party = event.party === null ? undefined : parties.get(event.party);
    const holder = holderAfter(event);
    const holderParty = holder === null ? undefined : parties.get(holder);

    // Lifecycle anomalies.
    if ((event.type === "store_receiving" || event.type === "retail_sale") && openedAt !== null) {
      raise(event, event.type === "retail_sale" ? "sold_after_opened" : "received_after_opened", { openedAt: openedAt.toISOString() });
    }
    if ((event.type === "store_receiving" || event.type === "retail_sale") && claimedAt !== null) {
      raise(event, "resold_after_claim", { store: event.party, name: party?.name ?? null, eventType: event.type, claimedAt: claimedAt.toISOString() });
    }
    if (event.type === "claimed") claimedAt ??= event.at;
    if (event.type === "retail_sale") {
      if (sold > 0) raise(event, "sold_twice", { times: sold + 1 });
      if (event.party !== null && !received.has(event.party)) raise(event, "sold_without_receiving", { store: event.party });
    }
    if (holderParty && !holderParty.authorised && event.type !== "production") {
      raise(event, "unauthorised_receiver", { receiver: holderParty.id, name: holderParty.name, region: holderParty.region });
    }

    // Price against the band in force at the sale, for the store's region.
    if (event.type === "retail_sale" && event.price !== null) {
      const guide = guideInForce(prices, party?.region ?? null, event.at);
      if (guide !== null) {
        const { verdict, deviation } = priceVerdict(event.price, guide);
        if (verdict === "below" || verdict === "above") {
          raise(event, verdict === "below" ? "price_below" : "price_above", {
            price: event.price,
            guide: { amount: guide.amount, currency: guide.currency, region: guide.region, validFrom: guide.validFrom.toISOString() },
            band: band(guide),
            deviation,
          });
        }
      }
    }

    // Sales region: assigned by the first shipment to a distributor when minting did not.
    if (region === null && event.type === "warehouse_out" && holderParty?.kind === "distributor") region = holderParty.region;
    if (holderParty) path.push({ party: holderParty.id, name: holderParty.name, region: holderParty.region, type: event.type, at: event.at.toISOString() });
    const store = event.type === "store_receiving" || event.type === "retail_sale" ? party : undefined;
    if (store?.kind === "store" && region !== null && store.region !== region && !bottle.divertedTo.has(store.id)) {
      // The last authorised holder inside the region before the bottle left it answers for it.
      const inside = path.filter((p) => p.region === region && parties.get(p.party)?.authorised !== false);
      const responsible = [...inside].reverse().find((p) => parties.get(p.party)?.kind === "distributor") ?? inside.at(-1) ?? null;
      raise(event, "diversion", {
        assigned: region,
        found: store.region,
        store: store.id,
        responsible: responsible?.party ?? null,
        responsibleName: responsible?.name ?? null,
        path: [...path],
      });
      bottle.divertedTo.add(store.id);
    }

    if (event.type === "store_receiving" && event.party !== null) received.add(event.party);
    if (event.type === "retail_sale") sold++;
    if (event.type === "opened" && openedAt === null) openedAt = event.at;
  }
  return { alerts, assignedRegion: region };
}

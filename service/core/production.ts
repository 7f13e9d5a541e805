/**
 * Production first: a bottle's history begins with its production event (for EPCIS, a
 * commissioning); no other event may name the bottle before it. Webhook ingest
 * (service/ingest/repo.ts) and EPCIS capture (service/epcis/capture.ts) both apply it to the
 * bottles' heads, read under their locks, then to each event of the delivery in order, so that a
 * delivery may produce a bottle and ship it in its next event.
 */

import type { BrandEventType } from "./vocabulary.ts";

/** The type of the event that starts a bottle's history. */
export const PRODUCTION: BrandEventType = "production";

/** A code's state before any event of its history (service/ledger/append.ts writes the others). */
const MINTED = "minted";

export interface ProductionFirst {
  /** The bottles among `serials` that an event of `type` may not name yet: none for a production event. */
  waiting(type: string | null, serials: readonly string[]): string[];
  /** An event of `type` accepted: after a production event, its bottles may be named by any event. */
  accept(type: string | null, serials: readonly string[]): void;
}

/** The rule over the bottles' heads: a bottle whose state is past minted has had its production event. */
export function productionFirst(heads: Iterable<{ serial: string; state: string }>): ProductionFirst {
  const produced = new Set<string>();
  for (const head of heads) if (head.state !== MINTED) produced.add(head.serial);
  return {
    waiting: (type, serials) => (type === PRODUCTION ? [] : serials.filter((serial) => !produced.has(serial))),
    accept(type, serials) {
      if (type === PRODUCTION) for (const serial of serials) produced.add(serial);
    },
  };
}

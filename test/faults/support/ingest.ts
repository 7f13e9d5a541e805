/**
 * Steady ingest, the way a careful brand system sends: signed webhook deliveries one after another,
 * each retried with the same webhook-id (and the same body) after a network error or a 5xx until it
 * gets a 2xx, honouring Retry-After (capped, to keep the suite short). Every attempt and answer is
 * recorded, so a test can say how many requests were sent, what came back and which events the
 * service acknowledged.
 */
import { randomBytes } from "node:crypto";
import { signWebhook } from "../../../service/ingest/signature.ts";
import type { BrandFixture } from "../../helpers/stack.ts";

export interface IngestRecord {
  /** Every HTTP attempt, retries included. */
  requests: number;
  /** Deliveries that needed more than one attempt. */
  retried: number;
  /** Answers 503 with a Retry-After header. */
  unavailable: number;
  /** Attempts that got no HTTP answer at all (connection refused or dropped). */
  networkErrors: number;
  /** Any other 5xx, and every 4xx: neither should ever happen to these well-formed deliveries. */
  unexpected: { status: number; body: string }[];
  /** `${slug}/${event id}` → the server's event id, for every event a 202 acknowledged. */
  acknowledged: Map<string, string>;
  /** The same event id acknowledged with two different server ids: stored twice. */
  conflicts: string[];
  /** Deliveries that got their 202. */
  delivered: number;
  /** Deliveries acknowledged, per service address (several when the deliveries are spread over HTTP processes). */
  deliveredBy: Map<string, number>;
}

export function newRecord(): IngestRecord {
  return {
    requests: 0,
    retried: 0,
    unavailable: 0,
    networkErrors: 0,
    unexpected: [],
    acknowledged: new Map(),
    conflicts: [],
    delivered: 0,
    deliveredBy: new Map(),
  };
}

const RETRY_AFTER_CAP_MS = 1_000;
/** A delivery still failing after this long is given up (and recorded as unexpected). */
const GIVE_UP_MS = 90_000;

/** Round robin over a client's service addresses: each attempt goes to the next one, so a retry goes to another process. */
let turn = 0;

/**
 * Posts one delivery until a 2xx; returns the attempts it took. With several addresses (HTTP processes
 * behind a client-side balancer) the attempts take turns, so a process down only costs one attempt.
 */
export async function deliver(
  urls: string | readonly string[],
  brand: Pick<BrandFixture, "slug" | "webhookSecret">,
  events: Record<string, unknown>[],
  record: IngestRecord,
  webhookId = `msg_${randomBytes(8).toString("hex")}`,
): Promise<number> {
  const body = JSON.stringify({ events });
  const giveUpAt = Date.now() + GIVE_UP_MS;
  for (let attempt = 1; ; attempt++) {
    if (Date.now() > giveUpAt) {
      record.unexpected.push({ status: 0, body: `webhook ${webhookId}: no 2xx after ${attempt - 1} attempts in ${GIVE_UP_MS} ms` });
      return attempt - 1;
    }
    record.requests++;
    let waitMs = 200;
    const url = typeof urls === "string" ? urls : urls[turn++ % urls.length]!;
    try {
      const response = await fetch(`${url}/webhooks/${brand.slug}/events`, {
        method: "POST",
        headers: { "content-type": "application/json", ...signWebhook(brand.webhookSecret, webhookId, body) },
        body,
        signal: AbortSignal.timeout(60_000),
      });
      const text = await response.text();
      if (response.status === 202) {
        const answer = JSON.parse(text) as { events: { id: string; eventId: string; status: string }[] };
        for (const event of answer.events) {
          const key = `${brand.slug}/${event.id}`;
          const known = record.acknowledged.get(key);
          if (known !== undefined && known !== event.eventId) record.conflicts.push(key);
          record.acknowledged.set(key, event.eventId);
        }
        record.delivered++;
        record.deliveredBy.set(url, (record.deliveredBy.get(url) ?? 0) + 1);
        if (attempt > 1) record.retried++;
        return attempt;
      }
      const retryAfter = response.headers.get("retry-after");
      if (response.status === 503 && retryAfter !== null) {
        record.unavailable++;
        waitMs = Math.min(Number(retryAfter) * 1_000, RETRY_AFTER_CAP_MS);
      } else {
        record.unexpected.push({ status: response.status, body: text.slice(0, 300) });
        if (response.status < 500) return attempt;
      }
    } catch {
      record.networkErrors++;
      // No answer at all: the process is gone; another one, if there is one, is tried at once.
      if (typeof urls !== "string" && urls.length > 1) waitMs = 0;
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

/** The first event of every bottle: produced at the factory. */
export function production(serials: string[], id: string): Record<string, unknown> {
  return { id, type: "production", codes: serials, occurredAt: new Date().toISOString(), party: "factory-zunyi", data: { line: 3 } };
}

export interface SteadyIngest {
  record: IngestRecord;
  /** Resolves once `n` more deliveries have been acknowledged. */
  delivered(n: number, timeoutMs?: number): Promise<void>;
  /** Finishes the delivery in flight (it is retried until acknowledged) and stops. */
  stop(): Promise<IngestRecord>;
}

/**
 * Produces the brand's bottles, then keeps sending deliveries of one to three warehouse events, each
 * for one to three of its bottles, every `pauseMs`, until stopped.
 */
export function steadyIngest(url: string | readonly string[], brand: BrandFixture, options: { pauseMs?: number; record?: IngestRecord } = {}): SteadyIngest {
  const record = options.record ?? newRecord();
  const pauseMs = options.pauseMs ?? 40;
  const serials = brand.codes.map((c) => c.serial);
  const prefix = randomBytes(3).toString("hex");
  let stopped = false;
  let n = 0;
  const pick = () => {
    const count = 1 + Math.floor(Math.random() * Math.min(3, serials.length));
    const start = Math.floor(Math.random() * serials.length);
    return Array.from({ length: count }, (_, i) => serials[(start + i) % serials.length]!);
  };
  const loop = (async () => {
    await deliver(url, brand, [production(serials, `${prefix}-prod`)], record);
    while (!stopped) {
      const events = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => ({
        id: `${prefix}-${++n}`,
        type: "warehouse_in",
        codes: pick(),
        occurredAt: new Date().toISOString(),
        party: "wh-guiyang",
      }));
      await deliver(url, brand, events, record);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  })();
  return {
    record,
    async delivered(count, timeoutMs = 120_000) {
      const target = record.delivered + count;
      const deadline = Date.now() + timeoutMs;
      while (record.delivered < target) {
        if (Date.now() > deadline) throw new Error(`only ${record.delivered} of ${target} deliveries acknowledged in ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      stopped = true;
      await loop;
      return record;
    },
  };
}

/**
 * EPCIS capture: every event of a document stored, anchored (one link in the brand's EPCIS log)
 * and, when it is about minted bottles at registered locations, added to those bottles' histories
 * with the same checks and alerts a webhook event gets. One transaction per document: with
 * `rollback` a failing event stores nothing at all; with `proceed` the others are stored.
 */
import { randomUUID } from "node:crypto";
import {
  bottleCandidates,
  namedIds,
  planCapture,
  type CaptureError,
  type CapturePlan,
  type Contents,
  type EventId,
  type KnownEvent,
  type Party,
} from "../core/capture-plan.ts";
import { contextPrefixes, epcisFacts, type EpcisFacts } from "../core/epcis.ts";
import { EpcisHashInputError, epcisEventHash, type EpcisContext } from "../core/epcis-event-hash.ts";
import type { LocationKey } from "../core/gs1-ids.ts";
import { logKey, randomSalt } from "../core/links.ts";
import { runChecks } from "../checks/run.ts";
import { withTransaction, type Db, type Tx } from "../db/pool.ts";
import { conflictingEvents } from "../http/errors.ts";
import { STORE_ID_NAMESPACE } from "../ingest/schema.ts";
import type { BrandRef } from "../http/auth.ts";
import { AppError } from "../http/errors.ts";
import { appendEvents, appendToLog, lockHeads, lockLog, type Head, type NewEvent } from "../ledger/append.ts";
import type { EpcisDocument } from "./schema.ts";

export type { CaptureError } from "../core/capture-plan.ts";

export type CaptureErrorBehaviour = "rollback" | "proceed";

export interface CaptureJob {
  captureID: string;
  createdAt: string;
  finishedAt: string;
  running: false;
  success: boolean;
  captureErrorBehaviour: CaptureErrorBehaviour;
  eventCount: number;
  stored: number;
  duplicates: number;
  errors: CaptureError[];
}

class RolledBack extends Error {
  readonly errors: CaptureError[];
  constructor(errors: CaptureError[]) {
    super("capture rolled back");
    this.errors = errors;
  }
}

/**
 * Each event's id: its eventID, else its CBV 2.0 event hash. Computed before the transaction (no lock is
 * held while hashing); an event whose numbers cannot be canonicalised within bounds refuses the whole
 * document (400, nothing stored, no job), as a schema error does.
 */
function eventIds(document: EpcisDocument, context: unknown): EventId[] {
  return document.epcisBody.eventList.map((event, index) => {
    if (typeof event.eventID === "string") return { id: event.eventID, hashed: false };
    try {
      return { id: epcisEventHash(event, (context ?? undefined) as EpcisContext | undefined), hashed: true };
    } catch (error) {
      if (!(error instanceof EpcisHashInputError)) throw error;
      const field = `epcisBody.eventList[${index}]${error.field === "" ? "" : `.${error.field}`}`;
      throw new AppError(400, "invalid_document", `the event hash cannot be computed: ${error.message}; nothing was stored`, {
        field,
        problems: [{ field, message: error.message }],
      });
    }
  });
}

export function createEpcisRepo(db: Db) {
  async function recordJob(tx: Tx | Db, brandId: number, job: CaptureJob): Promise<void> {
    await tx.query(
      `INSERT INTO epcis_captures (id, brand_id, behaviour, created_at, finished_at, success, event_count, stored, duplicates, errors)
       VALUES ($1, $2, $3, $4, now(), $5, $6, $7, $8, $9)`,
      [job.captureID, brandId, job.captureErrorBehaviour, job.createdAt, job.success, job.eventCount, job.stored, job.duplicates, JSON.stringify(job.errors)],
    );
  }

  return {
    /** Captures a validated document; returns the finished job and how many links it added. */
    async capture(
      brand: BrandRef,
      document: EpcisDocument,
      behaviour: CaptureErrorBehaviour,
      webhookId: string | null,
    ): Promise<{ job: CaptureJob; linksAdded: number }> {
      const createdAt = new Date().toISOString();
      const job: CaptureJob = {
        captureID: randomUUID(),
        createdAt,
        finishedAt: createdAt,
        running: false,
        success: true,
        captureErrorBehaviour: behaviour,
        eventCount: document.epcisBody.eventList.length,
        stored: 0,
        duplicates: 0,
        errors: [],
      };
      const context = document["@context"] ?? null;
      const prefixes = contextPrefixes(context);
      const ids = eventIds(document, context);
      try {
        const linksAdded = await withTransaction(db, async (tx) => {
          const added = await captureIn(tx, brand, document, ids, context, prefixes, behaviour, webhookId, job);
          await recordJob(tx, brand.id, { ...job, finishedAt: new Date().toISOString() });
          return added;
        });
        return { job: { ...job, finishedAt: new Date().toISOString() }, linksAdded };
      } catch (error) {
        if (!(error instanceof RolledBack)) throw error;
        const failed: CaptureJob = { ...job, success: false, stored: 0, duplicates: 0, errors: error.errors, finishedAt: new Date().toISOString() };
        await recordJob(db, brand.id, failed);
        return { job: failed, linksAdded: 0 };
      }
    },

    async job(brandId: number, captureID: string): Promise<CaptureJob | null> {
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(captureID)) return null;
      const { rows } = await db.query<{
        id: string;
        behaviour: CaptureErrorBehaviour;
        created_at: Date;
        finished_at: Date;
        success: boolean;
        event_count: number;
        stored: number;
        duplicates: number;
        errors: CaptureError[];
      }>("SELECT * FROM epcis_captures WHERE brand_id = $1 AND id = $2", [brandId, captureID]);
      const row = rows[0];
      return row === undefined
        ? null
        : {
            captureID: row.id,
            createdAt: row.created_at.toISOString(),
            finishedAt: row.finished_at.toISOString(),
            running: false,
            success: row.success,
            captureErrorBehaviour: row.behaviour,
            eventCount: row.event_count,
            stored: row.stored,
            duplicates: row.duplicates,
            errors: row.errors,
          };
    },
  };

  /** Captures the document in `tx`: load (under the log's lock), plan (core/capture-plan.ts), write. */
  async function captureIn(
    tx: Tx,
    brand: BrandRef,
    document: EpcisDocument,
    ids: EventId[],
    context: unknown,
    prefixes: Map<string, string>,
    behaviour: CaptureErrorBehaviour,
    webhookId: string | null,
    job: CaptureJob,
  ): Promise<number> {
    const events = document.epcisBody.eventList;
    const log = logKey(brand.slug);
    // One capture of a brand at a time: the log's head and what is packed in what stay consistent.
    await lockLog(tx, log, brand.id);
    const facts = events.map((event) => epcisFacts(event, prefixes));
    const loaded = await load(tx, brand.id, facts, ids);
    const plan = planCapture({
      brand: brand.slug,
      events,
      facts,
      ids,
      context,
      ...loaded,
      heads: loaded.heads.values(),
      reservedPrefix: STORE_ID_NAMESPACE,
      now: new Date(),
      salt: randomSalt,
    });
    job.errors.push(...plan.errors);
    job.duplicates += plan.duplicates;

    if (plan.conflicts.length > 0) throw conflictingEvents(plan.conflicts);
    // An id a webhook or a store already used (the events table is one namespace per brand): a conflict too.
    const { rows: taken } = await tx.query<{ brand_event_id: string }>(
      "SELECT brand_event_id FROM event_keys WHERE brand_id = $1 AND brand_event_id = ANY($2::text[])",
      [brand.id, plan.events.map((p) => p.brandEventId)],
    );
    if (taken.length > 0) {
      const ids = new Set(taken.map((t) => t.brand_event_id));
      throw conflictingEvents(
        plan.events
          .filter((p) => ids.has(p.brandEventId))
          .map((p) => ({
            index: p.index,
            id: p.eventID,
            field: "eventID",
            message: "already names another event of this brand (sent by webhook, by a store, or recorded by SealTrace)",
          })),
      );
    }
    if (job.errors.length > 0 && behaviour === "rollback") throw new RolledBack(job.errors);
    if (job.errors.length > 0) job.success = false;
    job.stored = plan.events.length;
    if (plan.events.length === 0) return 0;
    return write(tx, brand, log, webhookId, job.captureID, context, plan, loaded.heads);
  }

  /**
   * What the plan needs, read under the log's lock: the document's ids already stored, the parties
   * at its locations, what is packed in what it names, and its minted bottles, whose heads it locks.
   */
  async function load(tx: Tx, brandId: number, facts: EpcisFacts[], ids: EventId[]) {
    const { rows: known } = await tx.query<KnownEvent>(
      "SELECT epcis_id, event_id, corrects, body->'errorDeclaration' AS declaration, body FROM epcis_events WHERE brand_id = $1 AND epcis_id = ANY($2::text[])",
      [brandId, [...new Set(ids.map((i) => i.id))]],
    );

    const locations = facts.flatMap((f) => [f.location, f.destination]).filter((l): l is LocationKey => l !== null);
    const { rows: parties } = await tx.query<Party>("SELECT id, kind, gln, gln_ext FROM parties WHERE brand_id = $1 AND gln = ANY($2::text[])", [
      brandId,
      [...new Set(locations.map((l) => l.gln))],
    ]);

    // What is packed in what: loaded for every identifier the document names (the plan keeps it current).
    const named = namedIds(facts);
    const contents: Contents = new Map();
    let frontier = named;
    for (let depth = 0; depth < 4 && frontier.length > 0; depth++) {
      const { rows } = await tx.query<{ parent: string; child: string; event_id: number }>(
        "SELECT parent, child, event_id FROM epcis_contents WHERE brand_id = $1 AND parent = ANY($2::text[])",
        [brandId, frontier],
      );
      for (const row of rows) {
        if (!contents.has(row.parent)) contents.set(row.parent, new Map());
        contents.get(row.parent)!.set(row.child, row.event_id);
      }
      frontier = rows.map((r) => r.child).filter((c) => !contents.has(c));
    }

    // Minted bottles of this brand among every identifier that could be a bottle.
    const candidates = bottleCandidates(named, contents);
    const { rows: minted } = await tx.query<{ serial: string; gtin: string }>(
      "SELECT serial, gtin FROM codes WHERE brand_id = $1 AND serial = ANY($2::text[])",
      [brandId, [...new Set([...candidates.values()].map((c) => c.serial))]],
    );
    const mintedKeys = new Set(minted.map((m) => `${m.gtin}/${m.serial}`));
    const bottleOf = new Map<string, string>();
    for (const [id, item] of candidates) if (mintedKeys.has(`${item.gtin}/${item.serial}`)) bottleOf.set(id, item.serial);
    const heads = await lockHeads(tx, brandId, [...new Set(bottleOf.values())]);
    return { known, parties, contents, bottleOf, heads };
  }

  /** Writes a plan with new events: the ledger's events and links, the EPCIS tables, then the bottles' checks. */
  async function write(
    tx: Tx,
    brand: BrandRef,
    log: string,
    webhookId: string | null,
    captureID: string,
    context: unknown,
    plan: CapturePlan,
    heads: Map<string, Head>,
  ): Promise<number> {
    const planned = plan.events;
    const newEvents: NewEvent[] = planned.map((p) => ({
      canonical: p.canonical,
      brandEventId: p.brandEventId,
      occurredAt: p.event.eventTime,
      party: p.party,
      to: p.to,
      price: p.price,
      data: null,
    }));
    const appended = await appendEvents(tx, brand.id, webhookId, plan.receivedAt, newEvents, heads);
    const stored = appended.events;
    const logLinks = await appendToLog(tx, log, brand.id, stored);
    const eventIdOf = new Map(planned.map((p, i) => [p.brandEventId, stored[i]!.id]));

    await tx.query(
      `INSERT INTO epcis_events (event_id, brand_id, epcis_id, hashed_id, corrects, capture_id, event_type, event_time, biz_step, biz_location, read_point, epcs, parent, body, context)
       SELECT t.event_id, $1, t.epcis_id, t.hashed, c.event_id, $2, t.event_type, t.event_time, t.biz_step, t.biz_location, t.read_point,
              ARRAY(SELECT jsonb_array_elements_text(t.epcs)), t.parent, t.body, $3::jsonb
         FROM unnest($4::bigint[], $5::text[], $6::boolean[], $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::jsonb[], $14::text[], $15::jsonb[])
           AS t(event_id, epcis_id, hashed, corrects, event_type, event_time, biz_step, biz_location, read_point, epcs, parent, body)
         LEFT JOIN epcis_events c ON c.brand_id = $1 AND c.epcis_id = t.corrects AND c.corrects IS NULL
        ORDER BY t.event_id`,
      [
        brand.id,
        captureID,
        context === null ? null : JSON.stringify(context),
        stored.map((s) => s.id),
        planned.map((p) => p.eventID),
        planned.map((p) => p.hashedId),
        planned.map((p) => p.corrects),
        planned.map((p) => p.facts.eventType),
        planned.map((p) => p.event.eventTime),
        planned.map((p) => p.facts.bizStep),
        planned.map((p) => p.facts.bizLocation),
        planned.map((p) => p.facts.readPoint),
        planned.map((p) => JSON.stringify(p.facts.epcs)),
        planned.map((p) => p.facts.parent),
        planned.map((p) => JSON.stringify(p.event)),
      ],
    );

    if (plan.contents.size > 0) {
      const parents = [...plan.contents.keys()];
      await tx.query("DELETE FROM epcis_contents WHERE brand_id = $1 AND parent = ANY($2::text[])", [brand.id, parents]);
      const rows = [...plan.contents].flatMap(([parent, inside]) =>
        [...inside].map(([child, source]) => ({
          parent,
          child,
          eventId: source !== null && source < 0 ? stored[-source - 1]!.id : source!,
        })),
      );
      await tx.query("INSERT INTO epcis_contents (brand_id, parent, child, event_id) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[])", [
        brand.id,
        rows.map((r) => r.parent),
        rows.map((r) => r.child),
        rows.map((r) => r.eventId),
      ]);
    }

    const bottleSerials = [...new Set(planned.flatMap((p) => p.canonical.codes))];
    await runChecks(tx, brand.id, bottleSerials, [...eventIdOf.values()]);
    return appended.links + logLinks;
  }
}

export type EpcisRepo = ReturnType<typeof createEpcisRepo>;

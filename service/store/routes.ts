/**
 * The store API. The brand creates and revokes store keys (`sts_…`), each bound to one of its store
 * parties; with its key a store checks a bottle before taking it in or selling it, and posts its own
 * store_receiving and retail_sale events (stored exactly like webhook events).
 */
import { Type } from "@sinclair/typebox";
import { AMOUNT_PATTERN, fromCents, toCents } from "../core/price.ts";
import { STORE_EVENT_TYPES } from "../core/vocabulary.ts";
import type { Db } from "../db/pool.ts";
import type { Api } from "../http/api.ts";
import { AppError, invalidEvents, type Problem } from "../http/errors.ts";
import { rawJsonBodies } from "../http/json.ts";
import { EventSchema, MAX_EVENTS_PER_REQUEST, parseEventsEnvelope, STORE_ID_NAMESPACE } from "../ingest/schema.ts";
import type { IngestRepo } from "../ingest/repo.ts";
import { insertAlerts, type NewAlert } from "../checks/alerts.ts";
import { claimsOfBottles } from "../members/repo.ts";
import { pickLang } from "../web/lang.ts";
import { createStoreCheck, type Intent } from "./check.ts";
import { createStoreKeys, type StoreRef } from "./keys.ts";

/** The event types a store may post itself. */
const STORE_TYPES: ReadonlySet<string> = new Set(STORE_EVENT_TYPES);
const STORE_EVENTS_BODY_LIMIT = 4 * 1024 * 1024;
/** The ingest's limit on an event id, which the store's prefix counts against. */
const MAX_EVENT_ID = 128;

export interface StoreDeps {
  db: Db;
  ingest: IngestRepo;
  linksAdded: (count: number) => void;
  eventsAccepted: (count: number) => void;
}

const Code = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });
const Amount = Type.String({ pattern: AMOUNT_PATTERN, description: 'decimal string, e.g. "1499.00"' });
const KeyInfo = Type.Object({ id: Type.String(), party: Type.String(), createdAt: Type.String(), revokedAt: Type.Union([Type.String(), Type.Null()]) });
const MoneyOut = Type.Object({ amount: Type.String(), currency: Type.String() });
const CheckQuery = Type.Object(
  {
    serial: Type.String({ minLength: 1, maxLength: 64 }),
    price: Type.Optional(Amount),
    currency: Type.Optional(Type.String({ pattern: "^[A-Z]{3}$", default: "CNY", description: "ISO 4217 code of `price` (default CNY)" })),
    intent: Type.Optional(
      Type.Union([Type.Literal("receiving"), Type.Literal("sale")], {
        description: "what the store is about to do; default sale when a price is given, else receiving",
      }),
    ),
    lang: Type.Optional(
      Type.Union([Type.Literal("zh"), Type.Literal("en")], { description: "language of the warnings' messages (default: Accept-Language, else zh)" }),
    ),
  },
  { additionalProperties: false },
);
const CheckAnswer = Type.Object({
  authentic: Type.Boolean(),
  serial: Type.Optional(Type.String()),
  product: Type.Optional(Type.Object({ gtin: Type.String(), name: Type.Union([Type.String(), Type.Null()]) })),
  state: Type.Optional(Type.String()),
  region: Type.Optional(Type.Object({ ok: Type.Boolean(), assigned: Type.Union([Type.String(), Type.Null()]), store: Type.String() })),
  price: Type.Optional(
    Type.Object({
      guide: Type.Union([MoneyOut, Type.Null()]),
      band: Type.Union([Type.Object({ min: Type.String(), max: Type.String() }), Type.Null()]),
      verdict: Type.Union([Type.Literal("below"), Type.Literal("within"), Type.Literal("above"), Type.Literal("other_currency"), Type.Null()]),
      deviation: Type.Union([Type.Number(), Type.Null()]),
    }),
  ),
  warnings: Type.Optional(Type.Array(Type.Object({ kind: Type.String(), message: Type.String() }))),
});
const EventsResult = Type.Object({
  events: Type.Array(
    Type.Object({
      id: Type.String(),
      eventId: Type.String(),
      status: Type.Union([Type.Literal("accepted"), Type.Literal("duplicate")]),
      eventHash: Type.String(),
    }),
  ),
});

const brandSecurity = [{ brandApiKey: [] }];
const STORE_AUTH = "Authenticated with a store API key (Authorization: Bearer sts_…), created by the brand with POST /api/v1/parties/{id}/store-keys.";

const forbidden = (field: string, message: string): AppError => new AppError(403, "forbidden", message, { field });

/**
 * A store's event ids are its own: they are stored as `store:{party}:{id}`. A party id has no colon,
 * so two stores never collide, and no webhook or EPCIS id may start with `store:`.
 */
const idPrefix = (store: StoreRef): string => `${STORE_ID_NAMESPACE}${store.party}:`;

export function storeRoutes(app: Api, deps: StoreDeps): void {
  const { db } = deps;
  const keys = createStoreKeys(db);
  const checks = createStoreCheck(db);

  app.post(
    "/api/v1/parties/:id/store-keys",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["store"],
        summary: "Create an API key for one of the brand's stores (shown only here)",
        security: brandSecurity,
        params: Type.Object({ id: Code }),
        response: { 201: Type.Object({ ...KeyInfo.properties, storeKey: Type.String({ description: "sts_… (192 random bits); only its SHA-256 is kept" }) }) },
      },
    },
    async (request, reply) => {
      return reply.code(201).send(await keys.create(request.brand.id, request.params.id));
    },
  );

  app.get(
    "/api/v1/parties/:id/store-keys",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["store"],
        summary: "A store's API keys (never the keys themselves), newest first",
        security: brandSecurity,
        params: Type.Object({ id: Code }),
        response: { 200: Type.Object({ keys: Type.Array(KeyInfo) }) },
      },
    },
    async (request) => {
      return { keys: await keys.list(request.brand.id, request.params.id) };
    },
  );

  app.delete(
    "/api/v1/store-keys/:id",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["store"],
        summary: "Revoke a store API key (at once; revoking again changes nothing)",
        security: brandSecurity,
        params: Type.Object({ id: Type.String({ maxLength: 20 }) }),
        response: { 200: KeyInfo },
      },
    },
    async (request) => {
      return await keys.revoke(request.brand.id, request.params.id);
    },
  );

  app.get(
    "/api/v1/store/check",
    {
      config: { auth: "store" },
      schema: {
        tags: ["store"],
        summary: "Check a bottle before taking it in or selling it: authenticity, sales region, the price against the guide-price band, warnings",
        description:
          `${STORE_AUTH} An unknown serial or another brand's bottle is {"authentic": false} and nothing else. ` +
          "The guide price is the one in force now for the bottle's product in the store's region (else the national one). " +
          "A check is never counted as a consumer's verification.",
        querystring: CheckQuery,
        response: { 200: CheckAnswer },
      },
    },
    async (request, reply) => {
      const { serial, price, currency } = request.query;
      const intent: Intent = request.query.intent ?? (price !== undefined ? "sale" : "receiving");
      const lang = pickLang(request.query.lang, request.headers["accept-language"]);
      const amount = price === undefined ? null : fromCents(toCents(price)); // "1200" → "1200.00"
      const result = await checks.check(request.store, serial, { price: amount === null ? null : { amount, currency: currency ?? "CNY" }, intent, lang });
      return reply.header("cache-control", "no-store").send(result);
    },
  );

  void app.register(async (scope) => {
    // The events are validated by the ingest, which lists every problem (422) like the webhook does.
    rawJsonBodies(scope, ["application/json"], STORE_EVENTS_BODY_LIMIT);

    scope.post<{ Body: string }>(
      "/api/v1/store/events",
      {
        config: { auth: "store" },
        bodyLimit: STORE_EVENTS_BODY_LIMIT,
        schema: {
          tags: ["store"],
          summary: "Post the store's own store_receiving and retail_sale events (same shape and answers as the webhook)",
          description:
            `${STORE_AUTH} Every event's party must be the key's store (else 403 naming the field), and its type ` +
            "store_receiving or retail_sale (else 403). A store receives only a bottle whose latest step is its shipment " +
            "(warehouse_out) to this store or to a party of its region other than another store, and sells only a bottle whose latest step is " +
            "its own receiving (or, if the brand's storeSellsUnreceived is set, one it could receive); an event is dated no later " +
            "than now (5 minutes' clock skew), no earlier than the brand's storeBackdateHours (default 72) before it arrives, " +
            "and not before the bottle's previous step. Otherwise 422 naming each event's field and reason, and nothing is stored. " +
            "The store's event ids are its own: they are stored as `store:{party}:{id}` (at most 128 characters in all); the " +
            "same id again with the same content is a duplicate, with other content a 409 naming the id.",
          body: Type.Object({ events: Type.Array(EventSchema, { maxItems: MAX_EVENTS_PER_REQUEST }) }),
          response: { 202: EventsResult },
        },
        validatorCompiler: () => () => true,
      },
      async (request, reply) => {
        const { store } = request;
        const events = parseEventsEnvelope(request.body);
        async function claimedRefusals(actor: StoreRef, posted: unknown[], problems: readonly Problem[]): Promise<void> {
          const refused = new Map<string, string>();
          for (const problem of problems) {
            const match = /^codes\[(\d+)\]$/.exec(problem.field ?? "");
            const event = problem.index === undefined ? undefined : (posted[problem.index] as { type?: unknown; codes?: unknown } | undefined);
            const serial = match === null || !Array.isArray(event?.codes) ? undefined : event.codes[Number(match[1])];
            if (typeof serial === "string" && typeof event?.type === "string") refused.set(serial, event.type);
          }
          if (refused.size === 0) return;
          const claims = await claimsOfBottles(deps.db, actor.brandId, [...refused.keys()]);
          const alerts: NewAlert[] = [...claims.values()].map((claim) => ({
            kind: "resold_after_claim",
            serial: claim.serial,
            eventId: null,
            party: actor.party,
            details: { store: actor.party, name: actor.name, eventType: refused.get(claim.serial)!, claimedAt: claim.claimedAt.toISOString(), refused: true },
          }));
          await insertAlerts(deps.db, actor.brandId, alerts);
        }

        const prefix = idPrefix(store);
        const tooLong: Problem[] = [];
        const namespaced = events.map((event: unknown, index) => {
          if (typeof event !== "object" || event === null || Array.isArray(event)) return event;
          const { type, party, id } = event as { type?: unknown; party?: unknown; id?: unknown };
          if (typeof type === "string" && !STORE_TYPES.has(type)) {
            throw forbidden(`events[${index}].type`, `a store key may post only ${STORE_EVENT_TYPES.join(" and ")} events, not ${type}`);
          }
          if (typeof party === "string" && party !== store.party) {
            throw forbidden(`events[${index}].party`, `this store key may post only events of its own store "${store.party}"`);
          }
          if (typeof id !== "string") return event;
          if (id.length > MAX_EVENT_ID - prefix.length) {
            tooLong.push({ index, id, field: "id", message: `must be at most ${MAX_EVENT_ID - prefix.length} characters for this store` });
          }
          return { ...event, id: `${prefix}${id}` };
        });
        if (tooLong.length > 0) throw invalidEvents(tooLong);

        const own = (id: string | undefined) => (id !== undefined && id.startsWith(prefix) ? id.slice(prefix.length) : id);
        let outcome;
        try {
          outcome = await deps.ingest.ingest({ id: store.brandId, slug: store.brandSlug }, null, namespaced, {
            store: { party: store.party, region: store.region },
          });
        } catch (error) {
          // A refused receiving or sale of a bottle its buyer claimed (issue 20): the store tried to take a
          // registered bottle back into the trade. Nothing of the delivery is stored, but the attempt is
          // the brand's to know: a resold_after_claim alert naming the store.
          if (error instanceof AppError && error.problems !== undefined) await claimedRefusals(store, namespaced, error.problems);
          // the problems (422 invalid, 409 conflicting ids) name the store's own ids
          if (error instanceof AppError && error.problems !== undefined) {
            const problems = error.problems.map((p) => (p.id === undefined ? p : { ...p, id: own(p.id)! }));
            throw new AppError(error.status, error.code, error.message, { ...(error.field === undefined ? {} : { field: error.field }), problems });
          }
          throw error;
        }
        if (outcome.linksAdded > 0) deps.linksAdded(outcome.linksAdded);
        deps.eventsAccepted(outcome.events.filter((e) => e.status === "accepted").length);
        return reply.code(202).send({ events: outcome.events.map((e) => ({ ...e, id: own(e.id)! })) });
      },
    );
  });
}

/**
 * The webhook event schema, and validation that lists every problem as { index, id, field, message }.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Ajv, type ErrorObject } from "ajv";
import { AMOUNT_PATTERN } from "../core/price.ts";
import { AppError, type Problem } from "../http/errors.ts";
import { BRAND_EVENT_TYPES, BRAND_EVENTS, type BrandEventRule } from "../core/vocabulary.ts";
import { distinctProblems, fieldOf, storableAsJsonb } from "../http/problems.ts";

export const MAX_EVENTS_PER_REQUEST = 1_000;
/**
 * The ids of a store key's events are stored as `store:{party}:{id}` (a party id has no colon, so
 * two stores never collide); no other sender's id may start with this, so none collides with a store's.
 */
export const STORE_ID_NAMESPACE = "store:";

const Id = Type.String({ minLength: 1, maxLength: 128, pattern: "^[\\x21-\\x7e]+$" });

export const EventSchema = Type.Object(
  {
    id: Id,
    type: Type.Union(BRAND_EVENT_TYPES.map((t) => Type.Literal(t))),
    codes: Type.Array(Type.String({ minLength: 1, maxLength: 20, pattern: "^[0-9A-Za-z]+$" }), { minItems: 1, maxItems: 1_000, uniqueItems: true }),
    occurredAt: Type.String({
      pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$",
      description: "ISO 8601 date-time with an offset, e.g. 2026-11-20T09:30:00+08:00",
    }),
    party: Id,
    to: Type.Optional(Id),
    price: Type.Optional(
      Type.Object(
        {
          amount: Type.String({ pattern: AMOUNT_PATTERN, description: 'decimal string, e.g. "1499.00"' }),
          currency: Type.String({ pattern: "^[A-Z]{3}$", description: "ISO 4217 code" }),
        },
        { additionalProperties: false },
      ),
    ),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

export type WebhookEvent = Static<typeof EventSchema>;

/** The event types whose rule has `field` set, as a message names them ("a or b"). */
const typesWith = (field: "destination" | "price"): string => BRAND_EVENT_TYPES.filter((type) => BRAND_EVENTS[type][field]).join(" or ");

const ajv = new Ajv({ allErrors: true, strict: false });
const validateEvent = ajv.compile<WebhookEvent>(EventSchema);

function messageOf(error: ErrorObject): string {
  const params = error.params as { additionalProperty?: string; allowedValues?: unknown[] };
  if (error.keyword === "additionalProperties") return `unknown field "${params.additionalProperty}"`;
  if (error.keyword === "const" || error.keyword === "anyOf") return `must be one of ${BRAND_EVENT_TYPES.join(", ")}`;
  if (error.keyword === "pattern" && error.instancePath.endsWith("/occurredAt")) return "must be an ISO 8601 date-time with an offset";
  return error.message ?? "is invalid";
}

/** Schema problems of one event, plus the rules a schema cannot say. Empty when it is valid. */
export function eventProblems(event: unknown, index: number): Problem[] {
  const id = typeof (event as { id?: unknown })?.id === "string" ? (event as { id: string }).id : undefined;
  const problem = (field: string, message: string): Problem => (id === undefined ? { index, field, message } : { index, id, field, message });
  if (typeof event !== "object" || event === null || Array.isArray(event)) return [problem("(event)", "an event must be a JSON object")];
  if (!validateEvent(event)) {
    // the type union reports one error per literal: keep the summary, once per field
    return distinctProblems(
      (validateEvent.errors ?? []).filter((error) => error.keyword !== "const").map((error) => problem(fieldOf(error, "(event)"), messageOf(error))),
    );
  }
  const problems: Problem[] = [];
  if (Number.isNaN(Date.parse(event.occurredAt))) problems.push(problem("occurredAt", "is not a real date and time"));
  const rule: BrandEventRule = BRAND_EVENTS[event.type];
  if (rule.destination && event.to === undefined) problems.push(problem("to", `a ${event.type} event must name the party it ships to`));
  if (!rule.destination && event.to !== undefined) problems.push(problem("to", `only a ${typesWith("destination")} event has a destination`));
  if (!rule.price && event.price !== undefined) problems.push(problem("price", `only a ${typesWith("price")} event has a price`));
  // PostgreSQL's jsonb cannot hold NUL characters or lone UTF-16 surrogates: refuse them up front.
  if (event.data !== undefined && !storableAsJsonb(event.data)) {
    problems.push(problem("data", "must not contain NUL characters or unpaired surrogates"));
  }
  return problems;
}

/** The raw body of a delivery, as `{"events": [ … ]}` with 1 to 1,000 events (each still unchecked). */
export function parseEventsEnvelope(body: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new AppError(400, "bad_request", "the body is not valid JSON", { field: "body" });
  }
  const events = (parsed as { events?: unknown } | null)?.events;
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || !Array.isArray(events)) {
    throw new AppError(400, "bad_request", 'the body must be {"events": [ … ]}', { field: "events" });
  }
  const extra = Object.keys(parsed).filter((key) => key !== "events");
  if (extra.length > 0) throw new AppError(400, "bad_request", `unknown field "${extra[0]}"`, { field: extra[0]! });
  if (events.length === 0) throw new AppError(422, "invalid", "events must hold at least one event", { field: "events" });
  if (events.length > MAX_EVENTS_PER_REQUEST) {
    throw new AppError(413, "payload_too_large", `at most ${MAX_EVENTS_PER_REQUEST} events per request (got ${events.length})`, { field: "events" });
  }
  return events;
}

/**
 * Outgoing-webhook endpoints of a brand: create (the signing secret is shown only then), list,
 * disable, and the deliveries made to one, with every attempt.
 */
import { Type } from "@sinclair/typebox";
import { WEBHOOK_EVENT_TYPES } from "../core/vocabulary.ts";
import { classifyIp, DELIVERY_ERRORS, parseWebhookUrl, type Cidr } from "../core/destinations.ts";
import type { Db } from "../db/pool.ts";
import type { Api } from "../http/api.ts";
import { cursorParam, encodeCursor } from "../http/cursor.ts";
import { invalid, notFound } from "../http/errors.ts";
import { checkedAddresses, systemResolver, type Resolver } from "./destination.ts";
import { createOutboxRepo } from "./repo.ts";

const EventType = Type.Union(
  WEBHOOK_EVENT_TYPES.map((type) => Type.Literal(type)),
  {
    description:
      "an alert kind, batch.anchored (a batch holding the brand's links is anchored on chain), member.joined (a consumer became a " +
      "member) or bottle.claimed (a member registered a bottle); the members' events carry no phone number",
  },
);
const EndpointBody = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: 2_048,
      description:
        "http(s) URL that receives signed POSTs, without user name or password, on any port. Its host must be, or resolve only to, " +
        "public addresses (not loopback, private, link-local, CGNAT, multicast, documentation or reserved ranges) unless the operator " +
        "allows private blocks (WEBHOOK_ALLOW_PRIVATE); checked again before every attempt",
    }),
    types: Type.Array(EventType, { minItems: 1, maxItems: WEBHOOK_EVENT_TYPES.length * 2 }),
  },
  { additionalProperties: false },
);
const Created = Type.Object({
  id: Type.String(),
  url: Type.String(),
  types: Type.Array(Type.String()),
  secret: Type.String({ description: "Standard Webhooks signing secret (whsec_…); shown only here" }),
});
const Endpoint = Type.Object({
  id: Type.String(),
  url: Type.String(),
  types: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabledReason: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});
const NullableString = Type.Union([Type.String(), Type.Null()]);
const DeliveryErrorType = Type.Union(
  DELIVERY_ERRORS.map((reason) => Type.Literal(reason)),
  {
    description:
      "why an attempt got no 2xx, coarsely: refused_destination (the host is not, or does not resolve only to, allowed " +
      "addresses: nothing was sent), connection_failed, timeout, tls_error, http_status (see the status; redirects are not followed), " +
      "endpoint_disabled",
  },
);
const Delivery = Type.Object({
  id: Type.String(),
  webhookId: Type.String({ description: "the webhook-id header: the same on every retry" }),
  type: Type.String(),
  state: Type.Union([Type.Literal("pending"), Type.Literal("delivered"), Type.Literal("failed")]),
  payload: Type.Unknown({ description: "the JSON body sent" }),
  createdAt: Type.String(),
  deliveredAt: NullableString,
  nextAttemptAt: Type.Union([Type.String(), Type.Null()], { description: "while pending: when it is tried next" }),
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([DeliveryErrorType, Type.Null()]),
  attempts: Type.Array(
    Type.Object({
      at: Type.String(),
      status: Type.Union([Type.Integer(), Type.Null()], { description: "the HTTP status; null when no answer came" }),
      error: Type.Union([DeliveryErrorType, Type.Null()]),
      durationMs: Type.Union([Type.Integer(), Type.Null()], { description: "for an HTTP answer; null otherwise" }),
    }),
  ),
});
const EndpointId = Type.Object({ id: Type.String({ pattern: "^[0-9]{1,15}$" }) });
const DeliveriesQuery = Type.Object({
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
});

const brandSecurity = [{ brandApiKey: [] }];

const RESOLVE_TIMEOUT_MS = 5_000;

/** Where endpoints may point: public addresses, and the private blocks the operator allows. */
export interface EndpointDestinations {
  allowPrivate: readonly Cidr[];
  /** The system resolver by default. */
  resolve?: Resolver;
}

/**
 * The endpoint URL, normalised, once its destination is allowed; a 422 naming `url` and why otherwise.
 * Also the brand's SMS gateway URL (setup's settings, `field` smsGatewayUrl).
 */
export async function checkUrl(input: string, destinations: EndpointDestinations, field = "url"): Promise<string> {
  const parsed = parseWebhookUrl(input);
  if ("problem" in parsed) throw invalid(field, parsed.problem);
  const policy = { allowPrivate: destinations.allowPrivate, resolve: destinations.resolve ?? systemResolver };
  // A name that takes longer than this to resolve is refused like one that does not resolve.
  const addresses = await checkedAddresses(parsed.host, policy, AbortSignal.timeout(RESOLVE_TIMEOUT_MS)).catch(() => null);
  if (addresses !== null) return parsed.url.toString();
  if (parsed.host.kind === "ip") {
    throw invalid(
      field,
      `${parsed.url.hostname} is not a public address (${classifyIp(parsed.host.ip).replace("_", "-")}); webhooks go to public addresses only, ` +
        "unless the operator allows private receivers (WEBHOOK_ALLOW_PRIVATE)",
    );
  }
  // One answer for both: which internal names exist is not the caller's to learn.
  throw invalid(
    field,
    `${parsed.url.hostname} does not resolve, or resolves to an address that is not public; webhooks go to public addresses ` +
      "only, unless the operator allows private receivers (WEBHOOK_ALLOW_PRIVATE)",
  );
}

export function outboxRoutes(app: Api, deps: { db: Db; destinations: EndpointDestinations }): void {
  const { db, destinations } = deps;
  const repo = createOutboxRepo(db);

  app.post(
    "/api/v1/endpoints",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["outbox"],
        summary: "Add an endpoint for outgoing webhooks. Its signing secret is shown only here.",
        description:
          "Alerts of the chosen kinds, with batch.anchored each anchored batch holding the brand's links, and with member.joined " +
          "and bottle.claimed each new member and each claimed bottle (member id, store, bottle: no phone number) are POSTed " +
          "as {type, timestamp, data}, signed per Standard Webhooks with the endpoint's secret, from the moment it is created. " +
          "Failed attempts are retried with exponential backoff (8 s, 16 s, … up to an hour apart) for a day; a 410 answer disables the endpoint.",
        security: brandSecurity,
        body: EndpointBody,
        response: { 201: Created },
      },
    },
    async (request, reply) => {
      const url = await checkUrl(request.body.url, destinations);
      const types = [...new Set(request.body.types)];
      return reply.code(201).send(await repo.createEndpoint(request.brand.id, url, types));
    },
  );

  app.get(
    "/api/v1/endpoints",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["outbox"],
        summary: "The brand's webhook endpoints (without their secrets)",
        security: brandSecurity,
        response: { 200: Type.Object({ endpoints: Type.Array(Endpoint) }) },
      },
    },
    async (request) => {
      return { endpoints: await repo.listEndpoints(request.brand.id) };
    },
  );

  app.delete(
    "/api/v1/endpoints/:id",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["outbox"],
        summary: "Disable an endpoint: nothing more is sent to it, and its pending deliveries fail",
        security: brandSecurity,
        params: EndpointId,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      if (!(await repo.disableEndpoint(request.brand.id, Number(request.params.id)))) throw notFound(`no endpoint ${request.params.id}`);
      return reply.code(204).send(null); // the 204 schema's null: no body is sent either way
    },
  );

  app.get(
    "/api/v1/endpoints/:id/deliveries",
    {
      config: { auth: "brand" },
      schema: {
        tags: ["outbox"],
        summary: "Deliveries to an endpoint, newest first, each with its attempts; pass nextCursor as cursor for the next page",
        security: brandSecurity,
        params: EndpointId,
        querystring: DeliveriesQuery,
        response: { 200: Type.Object({ deliveries: Type.Array(Delivery), nextCursor: NullableString }) },
      },
    },
    async (request) => {
      const endpoint = await repo.endpoint(request.brand.id, Number(request.params.id));
      if (endpoint === null) throw notFound(`no endpoint ${request.params.id}`);
      const before = request.query.cursor === undefined ? null : cursorParam("d", request.query.cursor);
      const page = await repo.listDeliveries(request.brand.id, Number(endpoint.id), before, request.query.limit ?? 20);
      return { deliveries: page.deliveries, nextCursor: page.more && page.lastId !== null ? encodeCursor("d", page.lastId) : null };
    },
  );
}

/**
 * POST /webhooks/{brand}/events: signed per Standard Webhooks, up to 1,000 events per request.
 */
import { Type } from "@sinclair/typebox";
import type { Api } from "../http/api.ts";
import { notFound } from "../http/errors.ts";
import { rawJsonBodies } from "../http/json.ts";
import { MAX_EVENTS_PER_REQUEST, EventSchema, parseEventsEnvelope } from "./schema.ts";
import { verifySignature, type SignedHeaders } from "./signature.ts";
import type { IngestRepo } from "./repo.ts";

/** 1,000 events with generous free-form data fit comfortably; anything larger is refused with 413. */
export const WEBHOOK_BODY_LIMIT = 4 * 1024 * 1024;

const ResultSchema = Type.Object({
  events: Type.Array(
    Type.Object({
      id: Type.String(),
      eventId: Type.String(),
      status: Type.Union([Type.Literal("accepted"), Type.Literal("duplicate")]),
      eventHash: Type.String(),
    }),
  ),
});

export function ingestRoutes(app: Api, deps: { repo: IngestRepo; onLinksAdded: (count: number) => void; onEventsAccepted: (count: number) => void }): void {
  void app.register(async (scope) => {
    // The signature covers the exact bytes sent, so this route keeps the raw body and parses it itself.
    rawJsonBodies(scope, ["application/json"], WEBHOOK_BODY_LIMIT);

    scope.post<{ Params: { brand: string }; Body: string }>(
      "/webhooks/:brand/events",
      {
        bodyLimit: WEBHOOK_BODY_LIMIT,
        schema: {
          tags: ["ingest"],
          summary: "Post bottle events (Standard Webhooks signature with the brand's webhook secret)",
          description:
            "Answers 202 once every event is committed. The same webhook-id or the same event id again is a duplicate and stores nothing. Any invalid event → 422 listing every problem, and nothing is stored.",
          params: Type.Object({ brand: Type.String({ maxLength: 64 }) }),
          headers: Type.Object({
            "webhook-id": Type.Optional(Type.String()),
            "webhook-timestamp": Type.Optional(Type.String()),
            "webhook-signature": Type.Optional(Type.String()),
          }),
          body: Type.Object({ events: Type.Array(EventSchema, { maxItems: MAX_EVENTS_PER_REQUEST }) }),
          response: { 202: ResultSchema },
        },
        // The schema above documents the API; the body is validated after the signature check, below.
        validatorCompiler: () => () => true,
      },
      async (request, reply) => {
        const brand = await deps.repo.activeSecrets(request.params.brand);
        if (brand === null) throw notFound(`no brand "${request.params.brand}"`);
        const webhookId = verifySignature(request.body, request.headers as SignedHeaders, brand.secrets);

        const events = parseEventsEnvelope(request.body);

        const outcome = await deps.repo.ingest({ id: brand.brandId, slug: request.params.brand }, webhookId, events);
        if (outcome.linksAdded > 0) deps.onLinksAdded(outcome.linksAdded);
        deps.onEventsAccepted(outcome.events.filter((e) => e.status === "accepted").length);
        return reply.code(202).send({ events: outcome.events });
      },
    );
  });
}

/**
 * GS1 EPCIS 2.0 REST binding, per brand:
 *   POST /epcis/{brand}/capture            capture an EPCISDocument → 202 + Location of the job
 *   GET  /epcis/{brand}/capture/{id}       the capture job: state and errors
 *   GET  /epcis/{brand}/events             SimpleEventQuery parameters → EPCISQueryDocument, paged
 *   GET  /epcis/{brand}/events/{eventID}   one event
 * Authenticated with the brand's API key, or (capture only) a Standard Webhooks signature.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Db } from "../db/pool.ts";
import type { Api } from "../http/api.ts";
import { bearerToken, requireBrand, type BrandRef } from "../http/auth.ts";
import { AppError, notFound, unauthorized } from "../http/errors.ts";
import { rawJsonBodies } from "../http/json.ts";
import { verifySignature, type SignedHeaders } from "../ingest/signature.ts";
import type { CaptureErrorBehaviour, EpcisRepo } from "./capture.ts";
import type { EpcisQuery } from "./query.ts";
import { parseEventQuery, QUERY_PARAMETERS } from "./query.ts";
import { CAPTURE_FILE_SIZE_LIMIT, CAPTURE_LIMIT, parseEpcisDocument } from "./schema.ts";

const BrandParam = Type.Object({ brand: Type.String({ maxLength: 64 }) });
const security = [{ brandApiKey: [] }];

/** Headers every EPCIS answer carries (the REST binding's discovery headers). */
function epcisHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header("GS1-EPCIS-Version", "2.0.0")
    .header("GS1-CBV-Version", "2.0.0")
    .header("GS1-EPCIS-Capture-Limit", String(CAPTURE_LIMIT))
    .header("GS1-EPCIS-Capture-File-Size-Limit", String(CAPTURE_FILE_SIZE_LIMIT));
}

/** The discovery headers first, so that every answer past validation carries them (a 401 too). */
async function withEpcisHeaders(_request: FastifyRequest, reply: FastifyReply): Promise<void> {
  epcisHeaders(reply);
}

/** The brand named in the path, if the request's API key is that brand's; 404 for another brand's key (no probing). */
function brandOfPath(brand: BrandRef, path: string): BrandRef {
  if (brand.slug !== path) throw notFound(`no brand "${path}" for this API key`);
  return brand;
}

function behaviourOf(header: unknown): CaptureErrorBehaviour {
  if (header === undefined) return "rollback";
  const value = typeof header === "string" ? header.trim().toLowerCase() : "";
  if (value === "rollback" || value === "proceed") return value;
  throw new AppError(400, "bad_request", "GS1-Capture-Error-Behaviour must be rollback or proceed", { field: "GS1-Capture-Error-Behaviour" });
}

export interface EpcisRouteDeps {
  db: Db;
  repo: EpcisRepo;
  query: EpcisQuery;
  /** The brand's webhook secrets in force (the ingest feature owns them). */
  activeSecrets: (brandSlug: string) => Promise<{ brandId: number; secrets: string[] } | null>;
  linksAdded: (count: number) => void;
  eventsAccepted: (count: number) => void;
}

export function epcisRoutes(app: Api, deps: EpcisRouteDeps): void {
  const { db } = deps;

  void app.register(async (scope) => {
    // A signature covers the exact bytes sent, so capture keeps the raw body and parses it itself.
    rawJsonBodies(scope, ["application/json", "application/ld+json"], CAPTURE_FILE_SIZE_LIMIT);

    scope.post<{ Params: { brand: string }; Body: string }>(
      "/epcis/:brand/capture",
      {
        bodyLimit: CAPTURE_FILE_SIZE_LIMIT,
        schema: {
          tags: ["epcis"],
          summary: "Capture an EPCIS 2.0 document (JSON or JSON-LD)",
          description:
            "Validated against the official EPCIS 2.0 JSON schema (400 with each error's path otherwise). Processed before answering: " +
            "202 with the capture job in Location. GS1-Capture-Error-Behaviour: rollback (default; any failing event stores nothing) or proceed. " +
            "A repeated eventID is a duplicate and is not stored again; events without eventID get the CBV 2.0 event hash as their id. " +
            "Authenticate with the brand API key (Authorization: Bearer) or a Standard Webhooks signature made with the brand's webhook secret.",
          params: BrandParam,
          headers: Type.Object({ "gs1-capture-error-behaviour": Type.Optional(Type.String()) }),
          security: [{ brandApiKey: [] }, {}],
        },
        validatorCompiler: () => () => true,
      },
      async (request, reply) => {
        epcisHeaders(reply);
        let brand: BrandRef;
        let webhookId: string | null = null;
        if (bearerToken(request) !== null) {
          brand = brandOfPath(await requireBrand(db, request), request.params.brand);
        } else if (request.headers["webhook-signature"] !== undefined) {
          const signed = await deps.activeSecrets(request.params.brand);
          if (signed === null) throw notFound(`no brand "${request.params.brand}"`);
          webhookId = verifySignature(typeof request.body === "string" ? request.body : "", request.headers as SignedHeaders, signed.secrets);
          brand = { id: signed.brandId, slug: request.params.brand };
        } else {
          throw unauthorized("a brand API key (Authorization: Bearer …) or a Standard Webhooks signature is required");
        }
        const behaviour = behaviourOf(request.headers["gs1-capture-error-behaviour"]);
        if (typeof request.body !== "string") throw new AppError(415, "unsupported_media_type", "send application/json or application/ld+json");
        const document = parseEpcisDocument(request.body);
        const { job, linksAdded } = await deps.repo.capture(brand, document, behaviour, webhookId);
        if (linksAdded > 0) deps.linksAdded(linksAdded);
        deps.eventsAccepted(job.stored);
        return reply.code(202).header("location", `/epcis/${brand.slug}/capture/${job.captureID}`).send(job);
      },
    );
  });

  app.get(
    "/epcis/:brand/capture/:id",
    {
      config: { auth: "brand" },
      preHandler: withEpcisHeaders,
      schema: {
        tags: ["epcis"],
        summary: "A capture job: whether it succeeded, and each refused event with its reason",
        params: Type.Object({ brand: Type.String({ maxLength: 64 }), id: Type.String({ maxLength: 64 }) }),
        security,
      },
    },
    async (request) => {
      const brand = brandOfPath(request.brand, request.params.brand);
      const job = await deps.repo.job(brand.id, request.params.id);
      if (job === null) throw notFound(`no capture job "${request.params.id}"`);
      return job;
    },
  );

  // The query parameters are SimpleEventQuery's, read by parseEventQuery (the schema lists none).
  app.get<{ Params: { brand: string }; Querystring: Record<string, unknown> }>(
    "/epcis/:brand/events",
    {
      config: { auth: "brand" },
      preHandler: withEpcisHeaders,
      schema: {
        tags: ["epcis"],
        summary: "Query events (SimpleEventQuery parameters) → EPCISQueryDocument",
        description:
          `Parameters: ${QUERY_PARAMETERS.join(", ")}; a value may list alternatives separated by "|". Identifiers match as EPC URNs or GS1 Digital Links alike. ` +
          'Paged: perPage (default 100, at most 1000); the next page\'s link is in the Link header (rel="next") with nextPageToken. ' +
          "Each event carries a sealtrace:anchor extension: its canonical event, the link in the brand's EPCIS log, and the Merkle proof to the anchored root.",
        params: BrandParam,
        security,
      },
    },
    async (request, reply) => {
      const brand = brandOfPath(request.brand, request.params.brand);
      const query = parseEventQuery(request.query);
      const { document, nextPageToken } = await deps.query.events(brand, query);
      if (nextPageToken !== null) {
        const next = new URLSearchParams(Object.entries(request.query).filter(([name]) => name !== "nextPageToken") as [string, string][]);
        next.set("nextPageToken", nextPageToken);
        void reply.header("link", `</epcis/${brand.slug}/events?${next.toString()}>; rel="next"`);
      }
      return reply.type("application/ld+json").send(document);
    },
  );

  app.get(
    "/epcis/:brand/events/:eventID",
    {
      config: { auth: "brand" },
      preHandler: withEpcisHeaders,
      schema: {
        tags: ["epcis"],
        summary: "One event by its eventID (URL-encoded)",
        params: Type.Object({ brand: Type.String({ maxLength: 64 }), eventID: Type.String({ maxLength: 2_000 }) }),
        security,
      },
    },
    async (request, reply) => {
      const brand = brandOfPath(request.brand, request.params.brand);
      const document = await deps.query.event(brand, request.params.eventID);
      if (document === null) throw notFound(`no event "${request.params.eventID}"`);
      return reply.type("application/ld+json").send(document);
    },
  );
}

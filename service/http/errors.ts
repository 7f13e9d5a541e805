/**
 * Typed errors with stable codes, and the one place they become HTTP answers.
 * Every error body is { error: code, message, field?, problems? }; 5xx bodies never leak internals.
 */
import type { FastifyError, FastifyInstance } from "fastify";

export interface Problem {
  index?: number;
  id?: string;
  field: string;
  message: string;
}

export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly problems: Problem[] | undefined;
  constructor(status: number, code: string, message: string, options: { field?: string; problems?: Problem[] } = {}) {
    super(message);
    this.name = "AppError";
    this.status = status;
    this.code = code;
    this.field = options.field;
    this.problems = options.problems;
  }
}

export const notFound = (what = "not found"): AppError => new AppError(404, "not_found", what);
export const unauthorized = (message: string): AppError => new AppError(401, "unauthorized", message);
export const conflict = (message: string, field?: string): AppError => new AppError(409, "conflict", message, field ? { field } : {});
export const invalid = (field: string, message: string): AppError => new AppError(422, "invalid", message, { field });
export const invalidEvents = (problems: Problem[]): AppError =>
  new AppError(422, "invalid_events", `${problems.length} problem${problems.length === 1 ? "" : "s"} in the events; nothing was stored`, { problems });
/** Event ids that already name different events (each problem names the id): 409, nothing stored. */
export const conflictingEvents = (problems: Problem[]): AppError =>
  new AppError(
    409,
    "conflict",
    `${problems.length} event id${problems.length === 1 ? " already names" : "s already name"} a different event; nothing was stored`,
    { problems },
  );

/** PostgreSQL's unique violation: two writers claimed the same id at the same moment. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "23505";
}

/** PostgreSQL and network error codes that mean "the database is unavailable right now". */
const UNAVAILABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08006", "53300"]);

function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && UNAVAILABLE.has(code)) return true;
  const message = (error as Error).message ?? "";
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
}

/**
 * PostgreSQL data exceptions that a value from the request causes: NUL characters and lone escapes
 * text and jsonb cannot hold (22021, 22P05), and numbers, times or texts out of a column's range or
 * form (22003, 22008, 22007, 22P02, 22001). The transaction is rolled back; the client gets a 400.
 */
const BAD_VALUE = new Set(["22021", "22P05", "22003", "22008", "22007", "22P02", "22001"]);

function isBadValue(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && BAD_VALUE.has(code);
}

function fieldOf(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return "";
  const path = first.instancePath.replace(/^\//, "").replace(/\//g, ".");
  const missing = (first.params as { missingProperty?: string }).missingProperty;
  const extra = (first.params as { additionalProperty?: string }).additionalProperty;
  const name = missing ?? extra;
  return name ? (path ? `${path}.${name}` : name) : path;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: "not_found", message: `no route for ${request.method} ${request.url.split("?")[0]}` });
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) {
      const body: Record<string, unknown> = { error: error.code, message: error.message };
      if (error.field !== undefined) body.field = error.field;
      if (error.problems !== undefined) body.problems = error.problems;
      return reply.code(error.status).send(body);
    }
    if (error.validation) {
      const where = error.validationContext ?? "body";
      return reply.code(400).send({ error: "bad_request", message: `${where} ${error.validation[0]?.message ?? "is invalid"}`, field: fieldOf(error) });
    }
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply.code(413).send({ error: "payload_too_large", message: "the request body is larger than this route accepts" });
    }
    if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      return reply.code(415).send({ error: "unsupported_media_type", message: "send application/json" });
    }
    if (error.statusCode === 429) {
      return reply.code(429).send({ error: "rate_limited", message: error.message });
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: "bad_request", message: error.message });
    }
    if (isBadValue(error)) {
      request.log.info({ err: error }, "a value in the request cannot be stored");
      return reply
        .code(400)
        .send({ error: "bad_request", message: "the request holds a value that cannot be stored (e.g. a NUL character, or a number or date out of range)" });
    }
    if (isUniqueViolation(error)) {
      // A race the writer did not resolve itself (the ingest retries; this is the backstop): the
      // other request stored the same id first. Nothing of this request was stored.
      request.log.info({ err: error }, "unique violation: the same id was stored at the same moment");
      return reply
        .code(409)
        .send({
          error: "conflict",
          message:
            "an id in this request was stored by another request at the same moment; nothing of this request was stored (send it again to see how it compares)",
        });
    }
    if (isUnavailable(error)) {
      request.log.warn({ err: error }, "database unavailable");
      return reply.code(503).header("retry-after", "5").send({ error: "unavailable", message: "the service is briefly unavailable; retry later" });
    }
    request.log.error({ err: error }, "request failed");
    return reply.code(500).send({ error: "internal", message: `internal error (request ${request.id})` });
  });
}

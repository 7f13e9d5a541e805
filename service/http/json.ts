/**
 * JSON request bodies: every JSON content-type parser of the app checks the nesting depth on the raw
 * text (core/json-depth.ts) before anything parses it, so a deeply nested body is a 400, never a stack
 * overflow (a 500) in whatever walks the value later. The app-wide parser is Fastify's own (its
 * __proto__ and constructor.prototype poisoning checks included) behind the depth check; routes that
 * need the exact bytes (signed webhooks, EPCIS capture, store events) keep the raw text, checked the same way.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { jsonDepthExceededAt, MAX_JSON_DEPTH } from "../core/json-depth.ts";
import { AppError } from "./errors.ts";

type Done = (error: Error | null, body?: unknown) => void;

/** The 400 for a body nested deeper than MAX_JSON_DEPTH, or null. */
export function depthProblem(text: string): AppError | null {
  const at = jsonDepthExceededAt(text, MAX_JSON_DEPTH);
  return at < 0 ? null : new AppError(400, "too_deep", `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels (at character ${at})`, { field: "body" });
}

/** Replaces the app's application/json parser: the depth check, then Fastify's default parser (poisoning checks as configured: error). */
export function installJsonParser(app: FastifyInstance): void {
  const fastifyJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request: FastifyRequest, body: string | Buffer, done: Done) => {
    const problem = depthProblem(String(body));
    if (problem !== null) return done(problem, undefined);
    fastifyJson(request, String(body), done);
  });
}

/** In an encapsulated scope: these JSON content types arrive as the raw text (for a signature over the exact bytes), depth-checked. */
export function rawJsonBodies(scope: FastifyInstance, types: readonly string[], bodyLimit: number): void {
  for (const type of types) {
    if (scope.hasContentTypeParser(type)) scope.removeContentTypeParser(type);
    scope.addContentTypeParser(type, { parseAs: "string", bodyLimit }, (_request: FastifyRequest, body: string | Buffer, done: Done) => {
      const text = String(body);
      const problem = depthProblem(text);
      if (problem !== null) return done(problem, undefined);
      done(null, text);
    });
  }
}

/**
 * EPCIS 2.0 capture documents, validated against GS1's official EPCIS 2.0 JSON schema
 * (EPCIS-JSON-Schema.json here is gs1/EPCIS's file, unchanged; a test keeps it byte-identical to
 * the conformance copy). Every schema error is reported with its JSON path.
 */
import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { AppError, type Problem } from "../http/errors.ts";
import { distinctProblems, fieldOf, storableAsJsonb } from "../http/problems.ts";
import type { EpcisEvent } from "../core/epcis.ts";

/** GS1-EPCIS-Capture-Limit: events per capture document (one transaction, like a webhook delivery). */
export const CAPTURE_LIMIT = 1_000;
/** GS1-EPCIS-Capture-File-Size-Limit, in bytes. */
export const CAPTURE_FILE_SIZE_LIMIT = 4 * 1024 * 1024;
const MAX_REPORTED = 20;

export interface EpcisDocument {
  "@context"?: unknown;
  type: "EPCISDocument";
  schemaVersion: string;
  epcisBody: { eventList: EpcisEvent[] };
  [key: string]: unknown;
}

/** Compiled on first use (about a quarter of a second): processes that never capture, such as workers, never pay it. */
let compiled: ValidateFunction | null = null;
function documentValidator(): ValidateFunction {
  if (compiled === null) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    (addFormatsModule as unknown as { default: (ajv: Ajv) => void }).default(ajv);
    compiled = ajv.compile(JSON.parse(readFileSync(new URL("./EPCIS-JSON-Schema.json", import.meta.url), "utf8")) as object);
  }
  return compiled;
}

function schemaProblems(errors: ErrorObject[]): Problem[] {
  // if/then and anyOf wrappers only repeat what their inner errors say
  const problems = distinctProblems(
    errors
      .filter((e) => e.keyword !== "if" && e.keyword !== "anyOf" && e.keyword !== "allOf")
      .map((error) => ({ field: fieldOf(error, "(document)"), message: error.message ?? "is invalid" })),
  );
  return problems.length > 0 ? problems : [{ field: "(document)", message: "does not match the EPCIS 2.0 schema" }];
}

const badDocument = (message: string, problems: Problem[]): AppError =>
  new AppError(400, "invalid_document", message, { field: problems[0]!.field, problems: problems.slice(0, MAX_REPORTED) });

/** Parses and validates a capture body; throws 400 with every schema error's path, or 413 past the capture limit. */
export function parseEpcisDocument(body: string): EpcisDocument {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw badDocument("the body is not valid JSON", [{ field: "(document)", message: (error as Error).message }]);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || (parsed as { type?: unknown }).type !== "EPCISDocument") {
    throw badDocument("the body must be an EPCISDocument", [{ field: "type", message: 'must be "EPCISDocument"' }]);
  }
  const events = (parsed as { epcisBody?: { eventList?: unknown } }).epcisBody?.eventList;
  if (Array.isArray(events) && events.length > CAPTURE_LIMIT) {
    throw new AppError(413, "capture_limit_exceeded", `at most ${CAPTURE_LIMIT} events per capture (got ${events.length})`, { field: "epcisBody.eventList" });
  }
  const validate = documentValidator();
  if (!validate(parsed)) throw badDocument("the document does not match the EPCIS 2.0 JSON schema; nothing was stored", schemaProblems(validate.errors ?? []));
  const document = parsed as EpcisDocument;
  if (!/^2(\.\d+)*$/.test(document.schemaVersion)) {
    throw badDocument("only EPCIS 2.0 documents are accepted", [{ field: "schemaVersion", message: `must be 2.0 (got "${document.schemaVersion}")` }]);
  }
  // Refused up front, with the event's place, rather than by PostgreSQL halfway through the capture.
  const nul = document.epcisBody.eventList.findIndex((event) => !storableAsJsonb(event));
  if (nul >= 0)
    throw badDocument("an event holds a NUL character or an unpaired surrogate", [
      { field: `epcisBody.eventList[${nul}]`, message: "must not contain NUL characters or unpaired surrogates" },
    ]);
  return document;
}

/**
 * JSON-schema errors as the house's problems ({ field, message }), shared by every feature that
 * validates request bodies with Ajv and lists all their problems at once.
 */
import type { ErrorObject } from "ajv";

/** `/events/0/codes/2` → `events[0].codes[2]`, with the missing or unknown property appended; `whole` when the error is about the value itself. */
export function fieldOf(error: ErrorObject, whole: string): string {
  const path = error.instancePath.split("/").slice(1).map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`)).join("").replace(/^\./, "");
  const params = error.params as { missingProperty?: string; additionalProperty?: string; propertyName?: string };
  const name = params.missingProperty ?? params.additionalProperty ?? params.propertyName;
  return name === undefined ? path || whole : path ? `${path}.${name}` : name;
}

/** The problems without repeats of the same message for the same field, in their order. */
export function distinctProblems<P extends { field: string; message: string }>(problems: P[]): P[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.field}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** False when PostgreSQL's jsonb could not store the value: a NUL character or a lone UTF-16 surrogate in it. */
export function storableAsJsonb(value: unknown): boolean {
  return !/\\u0000|\\ud[89a-f][0-9a-f]{2}/i.test(JSON.stringify(value));
}

/**
 * JSON-schema errors as the house's problems ({ field, message }), shared by every feature that
 * validates request bodies with Ajv and lists all their problems at once.
 */
import type { ErrorObject } from "ajv";

/** `/events/0/codes/2` → `events[0].codes[2]`, with the missing or unknown property appended; `whole` when the error is about the value itself. */
export function fieldOf(error: ErrorObject, whole: string): string {
  const path = error.instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join("")
    .replace(/^\./, "");
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

const storableText = (text: string): boolean => !text.includes("\u0000") && text.isWellFormed();

/**
 * False when PostgreSQL's jsonb could not store the value: a NUL character or a lone UTF-16 surrogate in
 * a string or a key. Walks the value with a stack of its own, not recursion: however deep a value got
 * here, this never overflows the call stack (the JSON parsers refuse deep bodies before; see http/json.ts).
 */
export function storableAsJsonb(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === "string") {
      if (!storableText(next)) return false;
    } else if (Array.isArray(next)) {
      for (const item of next) pending.push(item);
    } else if (next !== null && typeof next === "object") {
      for (const [key, item] of Object.entries(next)) {
        if (!storableText(key)) return false;
        pending.push(item);
      }
    }
  }
  return true;
}

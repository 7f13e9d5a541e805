import { AppError } from "./errors.ts";

/**
 * Opaque page cursors: the id of the last row of the previous page, tagged with what it pages
 * (so an alerts cursor is not taken for a deliveries one) and base64url-encoded.
 */

export function encodeCursor(tag: string, id: number): string {
  return Buffer.from(`${tag}${id}`).toString("base64url");
}

/** The id inside a cursor this API gave out for `tag`, or null for anything else. */
export function decodeCursor(tag: string, cursor: string): number | null {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  if (!text.startsWith(tag) || !/^\d{1,15}$/.test(text.slice(tag.length))) return null;
  return Number(text.slice(tag.length));
}

/** The id inside the `cursor` query parameter; 400 naming the field when it is not one of ours. */
export function cursorParam(tag: string, cursor: string): number {
  const id = decodeCursor(tag, cursor);
  if (id === null) throw new AppError(400, "bad_request", "cursor is not one this API gave out", { field: "cursor" });
  return id;
}

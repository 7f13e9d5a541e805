/**
 * How deeply a JSON text nests, found in one pass over the text before anything parses it.
 * A body nested 200,000 levels deep parses, but every recursive walk over the value afterwards
 * (validation, canonical JSON, JSON.stringify for jsonb) overflows the stack: refused at the door.
 */

/** The deepest nesting of arrays and objects a JSON body may have. EPCIS documents need about ten
 * levels, webhook events' `data` a few; 64 leaves room for any honest payload. */
export const MAX_JSON_DEPTH = 64;

/**
 * The offset of the first `[` or `{` that opens level `limit + 1` in `text`, or -1 when the text never
 * nests deeper than `limit`. Brackets inside strings do not count (escapes respected). The text need
 * not be valid JSON: the parser that runs afterwards judges that. Linear time, constant memory.
 */
export function jsonDepthExceededAt(text: string, limit: number = MAX_JSON_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character (\" \\ \uXXXX: the XXXX are no quotes)
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return -1;
}

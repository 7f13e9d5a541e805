/**
 * Hostile HTTP input for the fuzz run: malformed requests of every kind, aimed at the routes the app
 * itself lists, built from a seeded random source so a failing run can be replayed (FAULT_SEED).
 */
import { connect } from "node:net";
import fc from "fast-check";
import type { Route } from "./routes.ts";

export interface FuzzRequest {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  /** Sent as these exact bytes over a raw socket instead (header injection, smuggling). */
  raw?: string;
}

/** Strings that have broken parsers, queries, templates and terminals before. */
export const HOSTILE_STRINGS = [
  "' OR '1'='1",
  "1; DROP TABLE events; --",
  '"; SELECT pg_sleep(5); --',
  "$1",
  "%00",
  "\u0000",
  "\ud800",
  "\udfff",
  "\u202e\u202d",
  "\u200b\ufeff",
  "🍶🥃👨‍👩‍👧",
  "e\u0301\u0301\u0301",
  "ﷺ",
  "../../etc/passwd",
  "..%2F..%2Fadmin",
  "<script>alert(1)</script>",
  "${7*7}",
  "{{7*7}}",
  "\r\nSet-Cookie: pwned=1",
  "A".repeat(10_000),
  "-1",
  "0",
  "1e309",
  "NaN",
  "__proto__",
  "constructor",
  "null",
  "[]",
  "{}",
  "\\",
  "%",
  "𝕊𝕖𝕒𝕝",
  "茅台' UNION SELECT api_key_hash FROM brands --",
  "\u0085\u2028\u2029",
];

const BROKEN_JSON = [
  "{",
  "}",
  '{"a":}',
  '{"a":1,}',
  "[1,2,",
  "{'a':1}",
  '{"a":NaN}',
  '{"a":Infinity}',
  '{"a":1e999999}',
  "/*x*/{}",
  "\ufeff{}",
  '{"a":"\\u12"}',
  '{"a":"\\x41"}',
  '{"a" 1}',
  "nul",
  "tru",
  '"unterminated',
  '{"events":[{"id":"a",}]}',
  '{"events":[',
  "{}{}",
  "[]]",
  "\u0000",
  '{"a":01}',
  '{"a":-}',
  '{"a":.5}',
  '{"__proto__":',
  '{"a":"\n"}',
];

const WRONG_TYPES: unknown[] = [null, true, 0, -1, 1.5, 2 ** 63, "", "x", [], [null], {}, { a: 1 }, [[[]]], "2026-13-45T99:99:99Z"];

type Schema = Record<string, unknown>;

/** A value the schema accepts, as far as a schema can say (ids still unknown to the database). */
export function example(schema: Schema | undefined, seed: number): unknown {
  if (schema === undefined) return "x";
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (Array.isArray(schema.anyOf)) return example(schema.anyOf[0] as Schema, seed);
  if (Array.isArray(schema.oneOf)) return example(schema.oneOf[0] as Schema, seed);
  switch (schema.type) {
    case "object": {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      return Object.fromEntries(Object.keys(properties).map((key) => [key, example(properties[key], seed)]));
    }
    case "array":
      return Array.from({ length: Math.max(1, Number(schema.minItems ?? 1)) }, (_, i) => example(schema.items as Schema, seed + i));
    case "integer":
    case "number":
      return typeof schema.minimum === "number" ? Math.max(schema.minimum, 1) : 1;
    case "boolean":
      return true;
    case "null":
      return null;
    case "string": {
      if (schema.format === "date-time") return new Date().toISOString();
      if (typeof schema.pattern === "string") return fc.sample(fc.stringMatching(new RegExp(schema.pattern)), { numRuns: 1, seed })[0];
      return "x".repeat(Math.max(1, Number(schema.minLength ?? 1)));
    }
    default:
      return "x";
  }
}

/** Every path to a leaf of `value`, to aim a mutation at one field. */
function leafPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.length === 0 ? [prefix] : value.flatMap((v, i) => leafPaths(v, [...prefix, i]));
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    return keys.length === 0 ? [prefix] : keys.flatMap((k) => leafPaths((value as Record<string, unknown>)[k], [...prefix, k]));
  }
  return [prefix];
}

function setAt(value: unknown, path: (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = replacement;
  return copy;
}

/** encodeURIComponent, except that lone surrogates become the (invalid) UTF-8 bytes of a surrogate. */
function encode(text: string): string {
  if (text.isWellFormed()) return encodeURIComponent(text);
  return text
    .toWellFormed()
    .split("\ufffd")
    .map((part) => encodeURIComponent(part))
    .join("%ED%A0%80");
}

function nested(depth: number, kind: "array" | "object"): string {
  return kind === "array" ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

export interface Fixture {
  /** Values to put in path parameters, by name; anything else gets "x". */
  params: Record<string, string>;
  /** Credentials a request may carry. */
  tokens: string[];
  /** Signs a body for a webhook route (with the right secret, so the body gets looked at). */
  sign(path: string, body: string): Record<string, string>;
}

export function fuzzRequests(routes: Route[], fixture: Fixture, count: number, random: () => number): FuzzRequest[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const hostile = () => pick(HOSTILE_STRINGS);
  const requests: FuzzRequest[] = [];
  for (let i = 0; i < count; i++) {
    const route = routes[i % routes.length]!;
    const seed = Math.floor(random() * 2 ** 31);
    const hasBody = route.method !== "GET" && route.method !== "DELETE";
    let path = route.path.replace(/:([A-Za-z_]+)|\*/g, (_, name: string | undefined) => encode(fixture.params[name ?? "*"] ?? "x"));
    const headers: Record<string, string> = {};
    const token = random() < 0.85 ? pick(fixture.tokens) : null;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const valid = example(route.body ?? undefined, seed);
    let body: string | Uint8Array<ArrayBuffer> | undefined = hasBody ? JSON.stringify(valid ?? {}) : undefined;
    const kinds = hasBody
      ? ["broken-json", "wrong-type", "hostile-field", "proto", "unicode", "unknown-field", "headers", "path", "deep", "raw"]
      : ["query", "path", "headers", "raw", "query", "unicode"];
    let kind = pick(kinds);
    if (kind === "deep" && random() < 0.9) kind = "wrong-type"; // deep and huge bodies are costly: a few hundred in all
    switch (kind) {
      case "broken-json":
        body = random() < 0.5 ? pick(BROKEN_JSON) : String(body).slice(0, Math.floor(random() * String(body).length));
        break;
      case "wrong-type": {
        const leaves = leafPaths(valid);
        body = JSON.stringify(random() < 0.3 ? pick(WRONG_TYPES) : setAt(valid, pick(leaves), pick(WRONG_TYPES)));
        break;
      }
      case "hostile-field":
        body = JSON.stringify(setAt(valid, pick(leafPaths(valid)), hostile()));
        break;
      case "unknown-field":
        body = JSON.stringify(typeof valid === "object" && valid !== null ? { ...valid, [hostile()]: hostile() } : { extra: 1 });
        break;
      case "proto":
        body = pick([
          `{"__proto__":{"admin":true},${String(body).slice(1)}`,
          `{"constructor":{"prototype":{"admin":true}}}`,
          String(body).replace(/\{/, '{"__proto__":{"isAdmin":true},'),
          `{"events":[{"__proto__":{"type":"production"}}]}`,
          JSON.stringify(setAt(valid, pick(leafPaths(valid)), JSON.parse('{"__proto__":{"polluted":1}}'))),
        ]);
        break;
      case "unicode": {
        const bytes = new Uint8Array(
          pick([
            Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
            Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]),
            Buffer.from('{"a":"\ud800"}', "utf16le"),
          ]),
        );
        if (hasBody)
          body =
            random() < 0.5 ? bytes : JSON.stringify(setAt(valid, pick(leafPaths(valid)), pick(["\ud800", "\u0000", "\u202e", "🍶".repeat(2_000), "\ufffe"])));
        else path += `?${pick(["q", "s", "lot", "serial", "lang"])}=${encode(pick(["\ufffe", "🍶", "\u0000", "e\u0301"]))}%ff%fe`;
        break;
      }
      case "deep":
        body =
          random() < 0.5
            ? nested(Math.floor(1_000 + random() * 200_000), pick(["array", "object"] as const))
            : `{"data":"${"A".repeat(pick([1_100_000, 5_000_000]))}"}`;
        break;
      case "query": {
        const key = pick([
          "lot",
          "serial",
          "s",
          "o",
          "lang",
          "cursor",
          "limit",
          "after",
          "from",
          "to",
          "since",
          "kind",
          "price",
          "currency",
          "intent",
          "format",
          "code",
          "__proto__[x]",
          "constructor[prototype][x]",
          hostile(),
        ]);
        const value = pick([hostile(), "-1", "999999999999999999999", "1e3", "2026-02-30", "true", ""]);
        path += `?${encode(key)}=${encode(value)}${random() < 0.3 ? `&${encode(key)}=${encode(hostile())}` : ""}`;
        break;
      }
      case "path": {
        const segments = path.split("/");
        const at = 1 + Math.floor(random() * (segments.length - 1));
        segments[at] = pick([encode(hostile()), "%", "%zz", "..", "%2e%2e", "%00", "a".repeat(5_000), "%F0%9F%8D%B6"]);
        path = segments.join("/");
        break;
      }
      case "headers": {
        Object.assign(
          headers,
          pick<Record<string, string>>([
            {
              "content-type": pick([
                "text/plain",
                "application/json; charset=utf-16",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded",
                "application/json;;;",
                "*/*",
              ]),
            },
            {
              authorization: pick([
                "Bearer",
                "Bearer  ",
                "Basic YWRtaW46YWRtaW4=",
                `Bearer ${"x".repeat(8_000)}`,
                "Bearer stk_' OR 1=1 --",
                "bearer sts_",
                "Bearer a b",
              ]),
            },
            {
              "webhook-id": pick(["", "x".repeat(300), "a\tb"]),
              "webhook-timestamp": pick(["0", "-1", "1e20", "NaN", "99999999999", ""]),
              "webhook-signature": pick(["v1,", "v1,!!!", "v2,abc", ` ${"v1,AAAA ".repeat(500)}`, "v1a,x"]),
            },
            { "accept-language": pick(["zz", "*;q=abc", "en".repeat(2_000)]), "x-request-id": pick(["a b", "x".repeat(500), "../../"]) },
            { "x-forwarded-for": pick(["' OR 1=1", "1.1.1.1, 2.2.2.2", "::ffff:127.0.0.1"]), "content-encoding": pick(["gzip", "br", "deflate", "x"]) },
          ]),
        );
        break;
      }
      case "raw":
        break;
    }
    if (hasBody && headers["content-type"] === undefined) headers["content-type"] = "application/json";
    if (route.path.startsWith("/webhooks/") && typeof body === "string" && kind !== "headers" && random() < 0.8)
      Object.assign(headers, fixture.sign(path, body));
    if (kind === "raw") {
      const text = typeof body === "string" ? body : "";
      const line = `${route.method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
      requests.push({
        kind,
        method: route.method,
        path,
        headers,
        raw: pick([
          `${line}X-Test: a\r\nSet-Cookie: pwned=1\r\nConnection: close\r\n\r\n`,
          `${line}Content-Length: 5\r\nContent-Length: 50\r\nConnection: close\r\n\r\n${text.slice(0, 5)}`,
          `${line}Transfer-Encoding: chunked\r\nContent-Length: 4\r\nConnection: close\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n`,
          `${line}Transfer-Encoding: chunked\r\nContent-Type: application/json\r\nConnection: close\r\n\r\nzz\r\n${text}\r\n0\r\n\r\n`,
          `${line}X-Folded: a\r\n b\r\nConnection: close\r\n\r\n`,
          `${line}Bad Header: x\r\nConnection: close\r\n\r\n`,
          `${line}X-Huge: ${"h".repeat(20_000)}\r\nConnection: close\r\n\r\n`,
          `${line}Authorization: Bearer ${fixture.tokens[0]}\r\n\tInjected: yes\r\nConnection: close\r\n\r\n`,
          `${route.method} ${path}\u0000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
          `${line}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text) + 10}\r\nConnection: close\r\n\r\n${text}`,
        ]),
      });
      continue;
    }
    requests.push({ kind, method: route.method, path, headers, ...(hasBody ? { body } : {}) });
  }
  return requests;
}

/** Sends bytes as they are and returns the status line's code (0: the server closed without answering). */
export async function sendRaw(port: number, raw: string, timeoutMs = 10_000): Promise<{ status: number; head: string }> {
  return await new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const finish = () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: match ? Number(match[1]) : 0, head: text.split("\r\n\r\n")[0] ?? "" });
    };
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", finish);
    // Half-closed after the request: a server waiting for more body bytes sees their end at once.
    socket.end(raw, "latin1");
  });
}

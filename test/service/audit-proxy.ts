/**
 * A tampering HTTP proxy for audit tests: it stands between `npm run audit` and a real SealTrace,
 * passes everything through, and lets a test rewrite the brand's export (line by line) and any
 * bottle's proof bundle on the way.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Tampering {
  /** Rewrites the export's NDJSON lines (parsed); return the lines to serve. */
  export?: (records: any[]) => any[];
  /** Rewrites one bottle's bundle; return the bundle to serve. */
  bundle?: (serial: string, bundle: any) => any;
}

export interface TamperingProxy {
  url: string;
  /** What the next requests get rewritten with (nothing: a faithful proxy). */
  tamper(with_: Tampering): void;
  close(): Promise<void>;
}

export async function startTamperingProxy(upstream: string): Promise<TamperingProxy> {
  let tampering: Tampering = {};
  const server: Server = createServer((request, response) => {
    void (async () => {
      try {
        const headers: Record<string, string> = {};
        for (const name of ["authorization", "if-none-match", "content-type"]) {
          const value = request.headers[name];
          if (typeof value === "string") headers[name] = value;
        }
        const answer = await fetch(`${upstream}${request.url}`, { method: request.method, headers });
        let body = Buffer.from(await answer.arrayBuffer());
        const path = new URL(request.url!, "http://proxy").pathname;
        const proof = /^\/api\/v1\/items\/([^/]+)\/proof$/.exec(path);
        if (answer.ok && path === "/api/v1/audit/events" && tampering.export) {
          const records = body
            .toString("utf8")
            .split("\n")
            .filter((line) => line.trim() !== "")
            .map((line) => JSON.parse(line));
          body = Buffer.from(
            tampering
              .export(records)
              .map((r) => `${JSON.stringify(r)}\n`)
              .join(""),
          );
        } else if (answer.ok && proof !== null && tampering.bundle) {
          body = Buffer.from(JSON.stringify(tampering.bundle(decodeURIComponent(proof[1]!), JSON.parse(body.toString("utf8")))));
        }
        const type = answer.headers.get("content-type");
        response.writeHead(answer.status, type === null ? {} : { "content-type": type });
        response.end(body);
      } catch (error) {
        response.writeHead(502, { "content-type": "text/plain" });
        response.end(String(error));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tamper(with_) {
      tampering = with_;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

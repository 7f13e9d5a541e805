/**
 * A brand's webhook receiver for tests: a local HTTP server that answers 200 and remembers every
 * `webhook-id` it was sent, registered as the brand's endpoint for the given event types.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import type pg from "pg";
import type { Stack } from "./stack.ts";

type Queryable = Pick<pg.Pool, "query">;

export interface Receiver {
  /** The webhook-ids received so far. */
  received: Set<string>;
  /** When each webhook-id came (more than once: a sender retried with the same id), and its last body. */
  arrivals: Map<string, { at: number[]; body: unknown }>;
  /** Waits until there is one delivery per anchored batch (`batches`), each delivered and received here. */
  allAnnounced(db: Queryable, batches: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(stack: Pick<Stack, "request">, apiKey: string, types: string[] = ["batch.anchored"]): Promise<Receiver> {
  const received = new Set<string>();
  const arrivals = new Map<string, { at: number[]; body: unknown }>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const id = String(request.headers["webhook-id"]);
      let body: unknown = null;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        /* not JSON: kept as null */
      }
      arrivals.set(id, { at: [...(arrivals.get(id)?.at ?? []), Date.now()], body });
      received.add(id);
      response.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint = await stack.request("POST", "/api/v1/endpoints", {
    token: apiKey,
    body: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, types },
  });
  expect(endpoint.status).to.equal(201);
  return {
    received,
    arrivals,
    async allAnnounced(db, batches, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { rows } = await db.query<{ webhook_id: string; state: string }>("SELECT webhook_id, state FROM deliveries");
        const open = rows.filter((r) => r.state !== "delivered" || !received.has(r.webhook_id));
        if (rows.length === batches && open.length === 0) return;
        if (Date.now() > deadline) throw new Error(`${rows.length} deliveries for ${batches} batches; ${open.length} not delivered`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

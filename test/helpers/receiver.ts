/**
 * A brand's webhook receiver for tests: a local HTTP server that answers 200 and remembers every
 * `webhook-id` it was sent, registered as the brand's endpoint for the given event types.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import type { Stack } from "./stack.ts";

export interface Receiver {
  /** The webhook-ids received so far. */
  received: Set<string>;
  close(): Promise<void>;
}

export async function startReceiver(stack: Pick<Stack, "request">, apiKey: string, types: string[] = ["batch.anchored"]): Promise<Receiver> {
  const received = new Set<string>();
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      received.add(String(request.headers["webhook-id"]));
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
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * The ceiling for the read paths: a bare Fastify server in a process of its own, answering
 * GET /json with the JSON of a real proof bundle (serialised per request, as a route returning an
 * object is) and GET /html with a real consumer page's bytes, and doing nothing else.
 *   node scripts/bench/bare.ts <bodies.json> <port>     bodies.json: {"json": {...}, "html": "..."}
 */
import { readFileSync } from "node:fs";
import Fastify from "fastify";

const bodies = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as { json: unknown; html: string };
const app = Fastify({ logger: false });
app.get("/json", async () => bodies.json);
app.get("/html", async (_request, reply) => reply.type("text/html; charset=utf-8").send(bodies.html));
await app.listen({ port: Number(process.argv[3]), host: "127.0.0.1" });
process.stdout.write("listening\n");
process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));

/**
 * The load generator, run by run.ts in a process of its own (so its CPU is not the service's):
 * autocannon against one URL, with bodies prepared before the clock starts. Reads its spec (JSON)
 * from the file named on the command line; prints one JSON line of results.
 *
 *   kind "ingest": signed webhook deliveries of `eventsPerRequest` one-bottle production events,
 *     one per serial, each delivery signed once up front (Standard Webhooks) and sent exactly once;
 *   kind "get": GETs of `paths` in turn, optionally each from a random client address
 *     (X-Forwarded-For, so every consumer page logs a scan of its own), over one URL or spread
 *     connection by connection over several (several HTTP processes, no proxy in between).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { signWebhook } from "../../service/ingest/signature.ts";

export type LoadSpec = {
  /** Several URLs (kind "get"): connection i goes to url[i % n], as a load balancer spreading connections over processes would. */
  url: string | string[];
  connections: number;
  /** Seconds; ignored when the run is a fixed number of requests. */
  duration?: number;
  /** Requests per second over all connections (open model); unlimited when absent. */
  overallRate?: number;
} & (
  | { kind: "ingest"; brand: string; secret: string; serials: string[]; eventsPerRequest: number; party: string; runId: string }
  | { kind: "get"; paths: string[]; randomClientAddress?: boolean }
);

export interface LoadResult {
  requests: number;
  non2xx: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** For ingest: events in the deliveries that were answered 2xx. */
  events?: number;
  /** First non-2xx answer, to say why. */
  firstFailure?: string;
}

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}
interface AutocannonResult {
  requests: { total: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
  latency: { p50: number; p99: number; max: number };
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

function ingestRequests(spec: Extract<LoadSpec, { kind: "ingest" }>): AutocannonRequest[] {
  const occurredAt = new Date(Date.now() - 3_600_000).toISOString().replace("Z", "+00:00");
  const requests: AutocannonRequest[] = [];
  for (let start = 0, i = 0; start < spec.serials.length; start += spec.eventsPerRequest, i++) {
    const events = spec.serials.slice(start, start + spec.eventsPerRequest).map((serial) => ({
      id: `${spec.runId}-${serial}`,
      type: "production",
      codes: [serial],
      occurredAt,
      party: spec.party,
      data: { line: 3 },
    }));
    const body = JSON.stringify({ events });
    requests.push({
      method: "POST",
      path: `/webhooks/${spec.brand}/events`,
      body,
      headers: { "content-type": "application/json", ...signWebhook(spec.secret, `${spec.runId}-${i}`, body) },
    });
  }
  return requests;
}

function randomAddress(): string {
  return `10.${(Math.random() * 256) | 0}.${(Math.random() * 256) | 0}.${(Math.random() * 254 + 1) | 0}`;
}

async function main(): Promise<void> {
  const spec = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as LoadSpec;
  let next = 0;
  let okEvents = 0;
  let firstFailure: string | undefined;
  const options: Record<string, unknown> = { url: spec.url, connections: spec.connections, pipelining: 1, timeout: 30 };
  if (spec.overallRate !== undefined) options.overallRate = spec.overallRate;
  if (spec.kind === "ingest") {
    const prepared = ingestRequests(spec);
    // Each delivery exactly once, shared by all connections in turn.
    options.amount = prepared.length;
    options.requests = [
      {
        setupRequest: (request: AutocannonRequest) => ({ ...request, ...prepared[next++ % prepared.length] }),
        onResponse: (status: number, body: string) => {
          if (status >= 200 && status < 300) okEvents += (JSON.parse(body) as { events: unknown[] }).events.length;
          else firstFailure ??= `${status} ${body.slice(0, 300)}`;
        },
      },
    ];
  } else {
    const { paths } = spec;
    options.duration = spec.duration ?? 10;
    options.requests = [
      {
        setupRequest: (request: AutocannonRequest) => ({
          ...request,
          method: "GET",
          path: paths[next++ % paths.length],
          headers: spec.randomClientAddress ? { "x-forwarded-for": randomAddress() } : {},
        }),
        onResponse: (status: number, body: string) => {
          if (status < 200 || status >= 300) firstFailure ??= `${status} ${body.slice(0, 300)}`;
        },
      },
    ];
  }
  const result = await autocannon(options);
  const seconds = result.duration;
  const out: LoadResult = {
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    seconds,
    requestsPerSecond: result.requests.total / seconds,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
  };
  if (spec.kind === "ingest") out.events = okEvents;
  if (firstFailure !== undefined) out.firstFailure = firstFailure;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

await main();

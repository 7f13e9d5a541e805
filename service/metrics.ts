/**
 * Prometheus metrics, one registry per process (or per test app), shared by HTTP and workers.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createMetrics(pendingLinks: () => Promise<number>) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "sealtrace_process_" });
  return {
    registry,
    eventsIngested: new Counter({ name: "sealtrace_events_ingested_total", help: "Events accepted and committed", registers: [registry] }),
    linksPending: new Gauge({
      name: "sealtrace_links_pending",
      help: "Links committed but not yet sealed into a batch",
      registers: [registry],
      async collect() {
        this.set(await pendingLinks().catch(() => Number.NaN));
      },
    }),
    batchesSealed: new Counter({ name: "sealtrace_batches_sealed_total", help: "Batches sealed (tree built, proofs stored)", registers: [registry] }),
    batchesAnchored: new Counter({ name: "sealtrace_batches_anchored_total", help: "Batches anchored with the required confirmations", registers: [registry] }),
    anchorLatency: new Histogram({
      name: "sealtrace_anchor_latency_seconds",
      help: "From a batch being sealed to its anchor being confirmed",
      registers: [registry],
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
    }),
    rpcErrors: new Counter({ name: "sealtrace_rpc_errors_total", help: "Chain RPC calls that failed", labelNames: ["method"], registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

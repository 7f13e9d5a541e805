/**
 * Sends due deliveries: POSTs each message's JSON to its endpoint, signed per Standard Webhooks
 * with the endpoint's secret, and decides from the answer what becomes of it: 2xx delivered; 410
 * Gone fails it and disables the endpoint; anything else (another status, a network error, no answer
 * within the timeout) is retried with exponential backoff for about a day, then marked failed.
 * One bad delivery never stops the others. Before every attempt the destination is checked again
 * (./destination.ts: public addresses only, unless allowed) and the request goes to a checked
 * address only; what an attempt records is a coarse cause, never error text or a refused host's timing.
 */
import type { Logger } from "pino";
import { parseWebhookUrl, type Cidr, type DeliveryError } from "../core/destinations.ts";
import type { Db } from "../db/pool.ts";
import { signWebhook } from "../ingest/signature.ts";
import { checkedAddresses, classifyFailure, DeliveryFailure, postPinned, systemResolver, type Resolver } from "./destination.ts";
import { createOutboxRepo, type Attempt, type DueDelivery, type Outcome } from "./repo.ts";

/**
 * When failed deliveries are tried again. The waits are 8 s, 16 s, 32 s … doubling up to 1 hour
 * each (±10% jitter), so the first retry comes within about 10 seconds, the wait reaches an hour
 * after about 68 minutes, and then one attempt an hour follows. No attempt is made more than a day
 * after the delivery was queued: it is marked failed instead (about 33 attempts in all).
 */
export interface RetryPolicy {
  /** The wait after the first failed attempt. */
  firstDelayMs: number;
  /** Waits double up to this. */
  maxDelayMs: number;
  /** Each wait varies by up to ± this fraction, so endpoints that failed together do not retry in lockstep. */
  jitter: number;
  /** A retry that would come later than this after the delivery was queued is not made: it fails. */
  giveUpAfterMs: number;
  /** A backstop: never more attempts than this. */
  maxAttempts: number;
}

export const RETRY_POLICY: RetryPolicy = {
  firstDelayMs: 8_000,
  maxDelayMs: 3_600_000,
  jitter: 0.1,
  giveUpAfterMs: 24 * 3_600_000,
  maxAttempts: 40,
};

/** No answer within this is a failed attempt. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** Deliveries claimed (and sent in parallel) at a time. */
const BATCH_SIZE = 20;
/** Batches one run may send before it yields to the next run. */
const MAX_BATCHES_PER_RUN = 10;
/** A claimed delivery stays with its sender this long: well over the timeout. */
const LEASE_MS = 60_000;
const USER_AGENT = "SealTrace-Webhooks/1";

/** The wait before the next attempt after `failedAttempts` failures (1 for the first). */
export function retryDelayMs(failedAttempts: number, policy: RetryPolicy = RETRY_POLICY, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.min(Math.max(failedAttempts - 1, 0), 40));
  return Math.round(base * (1 + policy.jitter * (2 * random() - 1)));
}

/**
 * The wait before retrying a delivery that has now failed `failedAttempts` times and was queued
 * `ageMs` ago; null when it is to be given up.
 */
export function nextRetryMs(failedAttempts: number, ageMs: number, policy: RetryPolicy = RETRY_POLICY, random: () => number = Math.random): number | null {
  if (failedAttempts >= policy.maxAttempts) return null;
  const delay = retryDelayMs(failedAttempts, policy, random);
  return ageMs + delay > policy.giveUpAfterMs ? null : delay;
}

export interface DispatcherOptions {
  db: Db;
  log: Logger;
  /** Private blocks that may receive webhooks anyway (WEBHOOK_ALLOW_PRIVATE); none by default. */
  allowPrivate?: readonly Cidr[];
  /** Injectable for tests (DNS rebinding); the system resolver by default. */
  resolve?: Resolver;
  retry?: Partial<RetryPolicy>;
  timeoutMs?: number;
}

export function createDispatcher(options: DispatcherOptions) {
  const { log } = options;
  const repo = createOutboxRepo(options.db);
  const destinations = { allowPrivate: options.allowPrivate ?? [], resolve: options.resolve ?? systemResolver };
  const policy: RetryPolicy = { ...RETRY_POLICY, ...options.retry };
  const timeoutMs = options.timeoutMs ?? DELIVERY_TIMEOUT_MS;
  const closing = new AbortController();

  /** One attempt at one claimed delivery; never throws. */
  async function attempt(delivery: DueDelivery): Promise<void> {
    // jsonb keeps keys in its own order: put the envelope's back in the documented one.
    const { type, timestamp, data } = delivery.payload as { type: unknown; timestamp: unknown; data: unknown };
    const body = JSON.stringify({ type, timestamp, data });
    const at = new Date();
    const started = performance.now();
    let status: number | null = null;
    let error: DeliveryError | null = null;
    /** The full story, for the operator's log only: the brand sees `error`. */
    let detail: unknown = undefined;
    try {
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), closing.signal]);
      const parsed = parseWebhookUrl(delivery.url);
      if ("problem" in parsed) throw new DeliveryFailure("refused_destination");
      // Checked before every attempt, and the connection goes to a checked address only.
      const addresses = await checkedAddresses(parsed.host, destinations, signal);
      if (addresses === null) throw new DeliveryFailure("refused_destination");
      const headers = { "content-type": "application/json", "user-agent": USER_AGENT, ...signWebhook(delivery.secret, delivery.webhookId, body, at) };
      // Redirects are not followed (they could send the signed message anywhere): a 3xx is a failed attempt.
      status = await postPinned(parsed.url, addresses, headers, body, signal);
    } catch (caught) {
      if (closing.signal.aborted) {
        // Shutting down: not the endpoint's fault, so no attempt is counted.
        await repo.release(delivery).catch(() => undefined);
        return;
      }
      error = classifyFailure(caught);
      detail = caught instanceof DeliveryFailure ? undefined : caught;
    }
    // Only a real HTTP answer's duration is kept: the time to a refusal or a failed connection
    // would tell what lies behind an address.
    const durationMs = status === null ? null : Math.round(performance.now() - started);

    let outcome: Outcome;
    if (status !== null && status >= 200 && status < 300) {
      outcome = { state: "delivered" };
    } else if (status === 410) {
      error = "http_status";
      outcome = { state: "gone" };
    } else {
      if (status !== null) error = "http_status";
      const delayMs = nextRetryMs(delivery.attempts + 1, Date.now() - delivery.createdAt.getTime(), policy);
      outcome = delayMs === null ? { state: "failed" } : { state: "retry", delayMs };
    }
    const result: Attempt = { at, status, error, durationMs };
    const context = {
      delivery: delivery.id,
      webhookId: delivery.webhookId,
      endpoint: delivery.endpointId,
      type: delivery.type,
      status,
      attempts: delivery.attempts + 1,
    };
    try {
      await repo.record(delivery, result, outcome);
    } catch (recordError) {
      // The lease runs out and the delivery is sent again: receivers dedupe on webhook-id.
      log.warn({ err: recordError, ...context }, "could not record a webhook attempt");
      return;
    }
    if (outcome.state === "delivered") log.info({ ...context, durationMs }, "webhook delivered");
    else if (outcome.state === "retry") log.info({ ...context, error, err: detail, retryInMs: outcome.delayMs }, "webhook attempt failed; will retry");
    else if (outcome.state === "gone") log.warn(context, "endpoint answered 410 Gone; disabled");
    else log.warn({ ...context, error, err: detail }, "webhook delivery failed for good");
  }

  /** Sends due deliveries, a batch at a time; returns how many were attempted. */
  async function deliverDue(): Promise<number> {
    let sent = 0;
    for (let round = 0; round < MAX_BATCHES_PER_RUN && !closing.signal.aborted; round++) {
      const due = await repo.claimDue(BATCH_SIZE, LEASE_MS);
      await Promise.all(due.map((delivery) => attempt(delivery)));
      sent += due.length;
      if (due.length < BATCH_SIZE) break;
    }
    return sent;
  }

  return {
    /** Queues deliveries for new alerts and anchored batches; returns how many. */
    fanOut: () => repo.fanOut(),
    deliverDue,
    /** One run of the outbox: fan out, then send what is due. */
    async runOnce(): Promise<{ queued: number; sent: number }> {
      const queued = await repo.fanOut();
      const sent = await deliverDue();
      return { queued, sent };
    },
    /** Aborts requests in flight (their deliveries are given back, due at once) and stops sending. */
    abort(): void {
      closing.abort();
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;

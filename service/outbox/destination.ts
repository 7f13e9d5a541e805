/**
 * Outgoing webhooks go to public addresses only (service/core/destinations.ts), unless the operator
 * allows private blocks (WEBHOOK_ALLOW_PRIVATE). The check runs when an endpoint is created and
 * again before every attempt: the host is resolved, EVERY address it has must be allowed, and the
 * request then connects to one of exactly those addresses (the socket's lookup answers from the
 * checked list), so a DNS answer that changes between check and connect (DNS rebinding) cannot
 * redirect it. TLS still verifies the certificate for, and sends SNI and Host as, the URL's name.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { destinationAllowed, formatIp, parseIp, type Cidr, type DeliveryError, type Ip, type WebhookHost } from "../core/destinations.ts";

/** Every address a name resolves to (A and AAAA); throws when it does not resolve. */
export type Resolver = (hostname: string) => Promise<string[]>;

/** The system resolver (getaddrinfo: /etc/hosts, the container network's DNS…), all addresses. */
export const systemResolver: Resolver = async (hostname) => (await dnsLookup(hostname, { all: true, order: "verbatim" })).map((entry) => entry.address);

export interface DestinationPolicy {
  /** Private blocks that may receive webhooks anyway (WEBHOOK_ALLOW_PRIVATE); empty: public addresses only. */
  allowPrivate: readonly Cidr[];
  resolve: Resolver;
}

/** Rejects when the signal aborts (a DNS lookup takes no signal: it is left to finish on its own). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * The addresses a request may connect to: every address the host has, each one allowed; null when
 * the destination is refused (or the name does not resolve). Rejects only when `signal` aborts first.
 */
export async function checkedAddresses(host: WebhookHost, policy: DestinationPolicy, signal: AbortSignal): Promise<Ip[] | null> {
  if (host.kind === "ip") return destinationAllowed(host.ip, policy.allowPrivate) ? [host.ip] : null;
  let answers: string[];
  try {
    answers = await raceAbort(policy.resolve(host.name), signal);
  } catch (error) {
    if (signal.aborted) throw error;
    return null;
  }
  const ips = answers.map(parseIp);
  if (ips.length === 0 || ips.some((ip) => ip === null || !destinationAllowed(ip, policy.allowPrivate))) return null;
  return ips as Ip[];
}

/** A failed attempt: what the deliveries list may say about it, nothing more. */
export class DeliveryFailure extends Error {
  readonly reason: DeliveryError;
  constructor(reason: DeliveryError, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = "DeliveryFailure";
    this.reason = reason;
  }
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/;

/** The coarse cause of a request that got no answer. */
export function classifyFailure(error: unknown): DeliveryError {
  if (error instanceof DeliveryFailure) return error.reason;
  const e = error as { name?: string; code?: string; cause?: { name?: string } };
  if (e.name === "TimeoutError" || e.cause?.name === "TimeoutError") return "timeout";
  if (typeof e.code === "string" && TLS_CODE.test(e.code)) return "tls_error";
  return "connection_failed";
}

/**
 * POSTs `body` to `url` connected to one of the checked `addresses` only, without following
 * redirects; resolves with the HTTP status. Rejects when no answer came (the signal aborted, the
 * connection or the TLS handshake failed).
 */
export function postPinned(url: URL, addresses: Ip[], headers: Record<string, string>, body: string, signal: AbortSignal): Promise<number> {
  const pinned = addresses.map((ip) => ({ address: formatIp(ip), family: ip.family }));
  const lookup: LookupFunction = (_hostname, options, callback) => {
    const cb = callback as (error: Error | null, address: string | { address: string; family: number }[], family?: number) => void;
    const wanted = typeof options === "object" && options.family ? pinned.filter((a) => a.family === options.family) : pinned;
    if (wanted.length === 0) return cb(Object.assign(new Error("no checked address of that family"), { code: "ENOTFOUND" }), "", 0);
    if (typeof options === "object" && options.all) cb(null, wanted);
    else cb(null, wanted[0]!.address, wanted[0]!.family);
  };
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const request = send(
      {
        protocol: url.protocol,
        host: hostname,
        port: url.port === "" ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: "POST",
        headers: { ...headers, host: url.host, "content-length": String(Buffer.byteLength(body)) },
        // A connection of its own: never a pooled socket opened for another check.
        agent: false,
        lookup,
        signal,
      },
      (response: IncomingMessage) => {
        // Only the status matters; the body is not read.
        resolve(response.statusCode ?? 0);
        response.destroy();
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

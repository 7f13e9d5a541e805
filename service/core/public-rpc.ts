/**
 * The chain RPC the public is offered (consumer pages, their CSP, GET /api/v1/chain) for checking
 * anchored roots in the browser. It is never the service's own CHAIN_RPC_URL, which often carries a
 * provider's API key: only PUBLIC_RPC_URL is published, or, in embedded mode, the local development
 * chain (reachable from the server's own machine only, which the page says).
 */
export type PublicRpc = { kind: "public"; url: string } | { kind: "local"; url: string } | { kind: "none" };

/** The URL a browser may be pointed at, or null when none is offered. */
export function publicRpcUrl(rpc: PublicRpc): string | null {
  return rpc.kind === "none" ? null : rpc.url;
}

/** What CSP connect-src must allow for the in-browser check: the offered RPC's origin, or nothing. */
export function publicRpcOrigins(rpc: PublicRpc): string[] {
  const url = publicRpcUrl(rpc);
  return url === null ? [] : [new URL(url).origin];
}

/**
 * A JSON-RPC proxy in front of a test's own local chain, that a test can make misbehave: refuse
 * connections (its port closed), answer slowly, answer with JSON-RPC or HTTP errors, or call a hook
 * on chosen calls (to SIGKILL a worker at an exact moment).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { freePort } from "../../../service/anchoring/local-chain.ts";

export type RpcMode =
  | { kind: "pass" }
  /** The port is closed: every connection is refused. */
  | { kind: "refuse" }
  /** Every answer is held back this long. */
  | { kind: "slow"; delayMs: number }
  /** This share of calls (0..1) gets a JSON-RPC error, and as many again an HTTP 502. */
  | { kind: "errors"; share: number };

export interface RpcCall {
  method: string;
  body: string;
}

/**
 * What the hook decides for a call: forward it; "kill-before" drops it unanswered (the hook has
 * killed the caller); "kill-after" forwards it, then drops the answer.
 */
export type HookVerdict = "forward" | "kill-before" | "kill-after";

export interface RpcProxy {
  url: string;
  readonly calls: number;
  readonly injected: number;
  setMode(mode: RpcMode): Promise<void>;
  onCall(hook: ((call: RpcCall) => HookVerdict) | null): void;
  close(): Promise<void>;
}

function methodsOf(body: string): string[] {
  try {
    const parsed = JSON.parse(body) as { method?: string } | { method?: string }[];
    return (Array.isArray(parsed) ? parsed : [parsed]).map((p) => String(p.method));
  } catch {
    return ["(unparsable)"];
  }
}

function errorAnswer(body: string): string {
  const error = { code: -32603, message: "injected fault: internal error" };
  try {
    const parsed = JSON.parse(body) as { id?: unknown } | { id?: unknown }[];
    if (Array.isArray(parsed)) return JSON.stringify(parsed.map((p) => ({ jsonrpc: "2.0", id: p.id ?? null, error })));
    return JSON.stringify({ jsonrpc: "2.0", id: parsed.id ?? null, error });
  } catch {
    return JSON.stringify({ jsonrpc: "2.0", id: null, error });
  }
}

export async function startRpcProxy(target: string): Promise<RpcProxy> {
  const port = await freePort();
  let mode: RpcMode = { kind: "pass" };
  let hook: ((call: RpcCall) => HookVerdict) | null = null;
  const counts = { calls: 0, injected: 0 };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    counts.calls++;
    const current = mode;
    if (current.kind === "slow") await new Promise((resolve) => setTimeout(resolve, current.delayMs));
    if (current.kind === "errors") {
      const roll = Math.random();
      if (roll < current.share) {
        counts.injected++;
        res.writeHead(200, { "content-type": "application/json" }).end(errorAnswer(body));
        return;
      }
      if (roll < current.share * 2) {
        counts.injected++;
        res.writeHead(502, { "content-type": "text/plain" }).end("injected fault: bad gateway");
        return;
      }
    }
    let verdict: HookVerdict = "forward";
    if (hook !== null) {
      for (const method of methodsOf(body)) {
        verdict = hook({ method, body });
        if (verdict !== "forward") break;
      }
    }
    if (verdict === "kill-before") {
      res.destroy();
      return;
    }
    let upstream: Response;
    try {
      upstream = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body });
    } catch {
      res.destroy();
      return;
    }
    const text = await upstream.text();
    if (verdict === "kill-after") {
      res.destroy();
      return;
    }
    res.writeHead(upstream.status, { "content-type": "application/json" }).end(text);
  };

  let server: Server | null = null;
  const listen = async () => {
    server = createServer((req, res) => {
      handle(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
  };
  const shut = async () => {
    const s = server;
    server = null;
    if (s === null) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();

  return {
    url: `http://127.0.0.1:${port}`,
    get calls() {
      return counts.calls;
    },
    get injected() {
      return counts.injected;
    },
    async setMode(next) {
      if (next.kind === "refuse" && server !== null) await shut();
      if (next.kind !== "refuse" && server === null) await listen();
      mode = next;
    },
    onCall(next) {
      hook = next;
    },
    close: shut,
  };
}

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp`
 * and `webhook-signature` headers, HMAC-SHA256 over `id.timestamp.body`, five minutes' tolerance,
 * constant-time comparison, and any of the brand's active secrets (two during a rotation).
 */
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { unauthorized } from "../http/errors.ts";

export interface SignedHeaders {
  "webhook-id"?: string | string[] | undefined;
  "webhook-timestamp"?: string | string[] | undefined;
  "webhook-signature"?: string | string[] | undefined;
}

const MESSAGES: Record<string, string> = {
  "Message timestamp too old": "webhook-timestamp is more than 5 minutes in the past",
  "Message timestamp too new": "webhook-timestamp is more than 5 minutes in the future",
  "Invalid Signature Headers": "webhook-timestamp must be whole seconds since the epoch",
  "No matching signature found": "no webhook-signature matches the body with this brand's secret",
};

/** Verifies `body` under any of `secrets`; returns the webhook-id, or throws 401 saying why. */
export function verifySignature(body: string, headers: SignedHeaders, secrets: string[]): string {
  const single = (name: keyof SignedHeaders): string | undefined => {
    const value = headers[name];
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  const id = single("webhook-id");
  const timestamp = single("webhook-timestamp");
  const signature = single("webhook-signature");
  const missing = [!id && "webhook-id", !timestamp && "webhook-timestamp", !signature && "webhook-signature"].filter(Boolean);
  if (missing.length > 0) throw unauthorized(`missing signature header${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}`);
  if (id!.length > 256) throw unauthorized("webhook-id is longer than 256 characters");

  let lastReason = "no webhook-signature matches the body with this brand's secret";
  for (const secret of secrets) {
    try {
      new Webhook(secret).verify(body, { "webhook-id": id!, "webhook-timestamp": timestamp!, "webhook-signature": signature! }, { jsonParse: false });
      return id!;
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      lastReason = MESSAGES[error.message] ?? error.message;
      // a timestamp outside the tolerance fails the same way under every secret
      if (error.message.startsWith("Message timestamp") || error.message === "Invalid Signature Headers") break;
    }
  }
  throw unauthorized(lastReason);
}

/** Signs `body` for sending (tests, the demo, and outgoing webhooks). */
export function signWebhook(secret: string, id: string, body: string, at = new Date()): Record<string, string> {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(id, at, body),
  };
}

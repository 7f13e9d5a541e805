/**
 * Sending one-time codes (docs/MEMBERS.md, "The SMS gateway webhook"). Pluggable by the brand's
 * settings:
 *  - production (smsGatewayUrl set): a signed outgoing webhook (Standard Webhooks, the outbox's
 *    signing and its destination checks: public addresses only unless WEBHOOK_ALLOW_PRIVATE, the
 *    connection pinned to a checked address, no redirects) to the brand's SMS gateway, carrying the
 *    phone number and the code. This is the only place a phone number leaves SealTrace.
 *  - development (no gateway URL): the code is written to the log with the phone MASKED, clearly
 *    marked DEVELOPMENT, and kept for a few minutes (member_dev_codes) so the console can show it.
 * Sent at once, not queued: a code is useful for minutes and the consumer waits for it; a gateway
 * that fails is a 502 the consumer sees (and may retry, within the send limits).
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { parseWebhookUrl, type Cidr } from "../core/destinations.ts";
import { signWebhook } from "../ingest/signature.ts";
import { checkedAddresses, postPinned, systemResolver, type Resolver } from "../outbox/destination.ts";
import { AppError } from "../http/errors.ts";
import type { IssuedCode, MembersRepo, MemberSettings } from "./repo.ts";

/** The gateway webhook's event type. */
export const SMS_EVENT_TYPE = "member.code";
export const SMS_TIMEOUT_MS = 10_000;
const USER_AGENT = "SealTrace-Webhooks/1";

export interface SmsMessage {
  brandId: number;
  brandSlug: string;
  brandName: string;
  /** E.164. */
  phone: string;
  issued: IssuedCode;
  purpose: "claim" | "sign_in";
  lang: "zh" | "en";
}

/** The gateway webhook's JSON body, key order as documented (docs/MEMBERS.md). */
export function smsBody(message: SmsMessage, at: Date): string {
  return JSON.stringify({
    type: SMS_EVENT_TYPE,
    timestamp: at.toISOString(),
    data: {
      brand: message.brandSlug,
      phone: message.phone,
      code: message.issued.code,
      purpose: message.purpose,
      lang: message.lang,
      expiresAt: message.issued.expiresAt.toISOString(),
    },
  });
}

const gatewayFailed = (): AppError => new AppError(502, "sms_failed", "the code could not be sent by SMS just now: try again in a minute");

export function createSmsSender(options: { repo: MembersRepo; log: Logger; allowPrivate: readonly Cidr[]; resolve?: Resolver; timeoutMs?: number }) {
  const { repo, log } = options;
  const policy = { allowPrivate: options.allowPrivate, resolve: options.resolve ?? systemResolver };
  return {
    /** Sends the code; throws a 502 when the gateway does not take it. */
    async send(settings: MemberSettings, message: SmsMessage): Promise<"gateway" | "development"> {
      if (settings.smsGatewayUrl === null || settings.smsGatewaySecret === null) {
        log.warn(
          {
            brand: message.brandSlug,
            phoneMasked: message.issued.phoneMasked,
            code: message.issued.code,
            purpose: message.purpose,
            codeId: message.issued.codeId,
          },
          "DEVELOPMENT SMS sender (no smsGatewayUrl set): one-time code not sent by SMS, shown here and in the console",
        );
        await repo.recordDevCode(message.brandId, message.issued, message.purpose);
        return "development";
      }
      const at = new Date();
      const body = smsBody(message, at);
      const webhookId = `msg_${randomUUID().replace(/-/g, "")}`;
      try {
        const parsed = parseWebhookUrl(settings.smsGatewayUrl);
        if ("problem" in parsed) throw new Error("refused destination");
        const signal = AbortSignal.timeout(options.timeoutMs ?? SMS_TIMEOUT_MS);
        const addresses = await checkedAddresses(parsed.host, policy, signal);
        if (addresses === null) throw new Error("refused destination");
        const headers = { "content-type": "application/json", "user-agent": USER_AGENT, ...signWebhook(settings.smsGatewaySecret, webhookId, body, at) };
        const status = await postPinned(parsed.url, addresses, headers, body, signal);
        if (status < 200 || status >= 300) throw new Error(`gateway answered ${status}`);
      } catch (error) {
        // Never the body (it holds the phone and the code): what failed, for the operator.
        log.warn({ brand: message.brandSlug, webhookId, reason: (error as Error).message }, "the SMS gateway did not take a one-time code");
        throw gatewayFailed();
      }
      return "gateway";
    },
  };
}

export type SmsSender = ReturnType<typeof createSmsSender>;

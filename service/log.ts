/**
 * pino, configured so that secrets never reach the logs: no authorization or signature headers,
 * and the bottle secret in `?s=` and the cap code in `?o=` are masked in every logged URL.
 */
import { pino, type Logger, type DestinationStream } from "pino";
import type { LogLevel } from "./config.ts";

/** Query parameters whose values are secrets: the bottle's `s` and the cap's `o` (in any case). */
const SECRET_PARAMS = new Set(["s", "o"]);

/**
 * The URL with the value of every secret parameter masked. Each parameter's name is decoded as a
 * query parser decodes it (URLSearchParams: `%73` and `s` are one name), so no spelling of a name
 * the routes read escapes; repeated parameters are each masked. Other parameters are kept as sent.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf("?");
  if (q === -1) return url;
  const params = url
    .slice(q + 1)
    .split("&")
    .map((param) => {
      const eq = param.indexOf("=");
      const rawName = eq === -1 ? param : param.slice(0, eq);
      const [name] = new URLSearchParams(`${rawName}=`).keys();
      return name !== undefined && SECRET_PARAMS.has(name.toLowerCase()) ? `${rawName}=[redacted]` : param;
    });
  return `${url.slice(0, q + 1)}${params.join("&")}`;
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "sealtrace" },
      redact: {
        paths: [
          "req.headers.authorization",
          'req.headers["webhook-signature"]',
          "req.headers.cookie",
          "apiKey",
          "webhookSecret",
          "secret",
          "*.apiKey",
          "*.secret",
          // A member's phone number is never logged (docs/MEMBERS.md): a field so named anywhere is redacted.
          "phone",
          "*.phone",
          "*.*.phone",
        ],
        censor: "[redacted]",
      },
      serializers: {
        req: (req: { method: string; url: string; ip?: string; id?: string }) => ({ method: req.method, url: redactUrl(req.url), ip: req.ip }),
        err: pino.stdSerializers.err,
      },
    },
    destination,
  );
}

/**
 * pino, configured so that secrets never reach the logs: no authorization or signature headers,
 * and the bottle secret in `?s=` and the cap code in `?o=` are masked in every logged URL.
 */
import { pino, type Logger, type DestinationStream } from "pino";
import type { LogLevel } from "./config.ts";

export function redactUrl(url: string): string {
  return url.replace(/([?&][so]=)[^&#]*/g, "$1[redacted]");
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { service: "sealtrace" },
    redact: { paths: ["req.headers.authorization", 'req.headers["webhook-signature"]', "apiKey", "webhookSecret", "secret", "*.apiKey", "*.secret"], censor: "[redacted]" },
    serializers: {
      req: (req: { method: string; url: string; ip?: string; id?: string }) => ({ method: req.method, url: redactUrl(req.url), ip: req.ip }),
      err: pino.stdSerializers.err,
    },
  }, destination);
}

/**
 * The in-process scheduler the job wirings share when there is no Redis: a task run now and then
 * every interval, never twice at once, backing off after failures.
 */
import type { Logger } from "pino";

/** Runs `task` now and then every `intervalMs`, never twice at once; failures back off up to 30 s. */
export function loop(name: string, intervalMs: number, task: () => Promise<unknown>, log: Logger) {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let failures = 0;
  const schedule = (delay: number) => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(kick, delay);
  };
  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      try {
        await task();
        failures = 0;
      } catch (error) {
        failures++;
        log.warn({ err: error, job: name, failures }, "job failed; retrying with backoff");
      } finally {
        running = null;
        const backoff = failures === 0 ? intervalMs : Math.min(30_000, intervalMs * 2 ** Math.min(failures, 10));
        if (again) {
          again = false;
          schedule(0);
        } else schedule(backoff);
      }
    })();
  }
  return {
    start: () => schedule(0),
    kick,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

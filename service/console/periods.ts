/**
 * Calendar periods in China Standard Time (UTC+8 all year, no daylight saving), which is how the
 * console counts "today", "this week" (Monday first), weeks and months. Pure.
 */
import { CHINA_TIME_ZONE } from "../web/time.ts";

export const TIME_ZONE = CHINA_TIME_ZONE;
const OFFSET_MS = 8 * 3_600_000;
const DAY_MS = 86_400_000;

export type Unit = "day" | "week" | "month";

/** The wall clock in China as UTC fields of a Date. */
const local = (at: Date): Date => new Date(at.getTime() + OFFSET_MS);
const fromLocal = (wall: number): Date => new Date(wall - OFFSET_MS);

/** The start (00:00 China time) of the day, week (Monday) or month holding `at`, `back` periods earlier. */
export function periodStart(unit: Unit, at: Date, back = 0): Date {
  const wall = local(at);
  const midnight = Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate());
  if (unit === "day") return fromLocal(midnight - back * DAY_MS);
  if (unit === "week") return fromLocal(midnight - (((wall.getUTCDay() + 6) % 7) + 7 * back) * DAY_MS);
  return fromLocal(Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth() - back, 1));
}

/** The starts of the last `count` periods up to the current one, oldest first. */
export function periodStarts(unit: Unit, count: number, now: Date): Date[] {
  return Array.from({ length: count }, (_, i) => periodStart(unit, now, count - 1 - i));
}

/** A period's key as the database groups it: its first day in China, YYYY-MM-DD. */
export function periodKey(start: Date): string {
  return local(start).toISOString().slice(0, 10);
}

/** The date (YYYY-MM-DD, China time) of an instant. */
export const localDate = periodKey;

/**
 * Money as the pages show it (the consumer page, the price-report answer, the console): one
 * format, so changing how a price is shown is a change here. Parsing and checking amounts is pure
 * logic and lives in service/core/price.ts (`AMOUNT_PATTERN`, `toCents`).
 */
import type { Money } from "../core/price.ts";

/** `¥1499.00` for yuan, `USD 12.50` for any other currency (its ISO 4217 code first). */
export function formatMoney(money: Money): string {
  return money.currency === "CNY" ? `¥${money.amount}` : `${money.currency} ${money.amount}`;
}

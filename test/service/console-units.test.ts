/**
 * The console's pure pieces, without a server: China-time periods (days, Monday weeks, months
 * across a year's end), the serial in a scanned QR link, where sign-in may send a user, and the
 * scrypt hashes.
 */
import { expect } from "chai";
import { hashPassword, verifyPassword } from "../../service/console/passwords.ts";
import { localDate, periodStart, periodStarts } from "../../service/console/periods.ts";
import { scannedSerial } from "../../service/console/store.ts";
import { safeNext } from "../../service/console/web.ts";

describe("console: periods, scans, redirects and passwords", () => {
  it("counts days, weeks (from Monday) and months in China time", () => {
    // Monday 2026-11-23 00:30 in Shanghai is still Sunday 16:30 in UTC
    const mondayEarly = new Date("2026-11-22T16:30:00Z");
    expect(periodStart("day", mondayEarly).toISOString()).to.equal("2026-11-22T16:00:00.000Z");
    expect(periodStart("week", mondayEarly).toISOString()).to.equal("2026-11-22T16:00:00.000Z");
    expect(periodStart("month", mondayEarly).toISOString()).to.equal("2026-10-31T16:00:00.000Z");
    // Sunday 2026-11-22 23:59 in Shanghai belongs to the week from Monday the 16th
    const sundayLate = new Date("2026-11-22T15:59:00Z");
    expect(periodStart("week", sundayLate).toISOString()).to.equal("2026-11-15T16:00:00.000Z");
    expect(periodStart("day", sundayLate, 1).toISOString()).to.equal("2026-11-20T16:00:00.000Z");
    expect(periodStart("day", sundayLate, -1).toISOString(), "tomorrow").to.equal("2026-11-22T16:00:00.000Z");
    expect(periodStarts("month", 3, new Date("2026-01-15T04:00:00Z")).map(localDate)).to.deep.equal(["2025-11-01", "2025-12-01", "2026-01-01"]);
    expect(periodStarts("week", 2, mondayEarly).map(localDate)).to.deep.equal(["2026-11-16", "2026-11-23"]);
  });

  it("finds the serial in a scanned QR link, or takes the code as typed", () => {
    expect(scannedSerial("https://trace.example/01/06901234567892/21/ABC123XYZ?s=secret")).to.equal("ABC123XYZ");
    expect(scannedSerial("http://127.0.0.1:3000/01/06901234567892/21/A%42C?o=cap")).to.equal("ABC");
    expect(scannedSerial("  ABC123XYZ ")).to.equal("ABC123XYZ");
  });

  it("sends a signed-in user only to a console path, as given", () => {
    expect(safeNext("/console/alerts?kind=diversion")).to.equal("/console/alerts?kind=diversion");
    expect(safeNext("/console")).to.equal("/console");
    for (const next of [
      undefined,
      "",
      "/",
      "https://evil.example/console",
      "//evil.example/console",
      "/\\evil.example",
      "/consolex",
      "/console/../admin",
      "/console/%2e%2e/x y",
    ]) {
      expect(safeNext(next), String(next)).to.equal("/console");
    }
  });

  it("hashes passwords with scrypt and a random salt, and checks them", async () => {
    const a = await hashPassword("correct horse battery staple");
    const b = await hashPassword("correct horse battery staple");
    expect(a).not.to.equal(b);
    expect(await verifyPassword("correct horse battery staple", a)).to.equal(true);
    expect(await verifyPassword("correct horse battery stapler", a)).to.equal(false);
    expect(await verifyPassword("anything", "not-a-hash")).to.equal(false);
    expect(await verifyPassword("anything", "scrypt$0$8$1$c2FsdA$aGFzaA")).to.equal(false);
  });
});

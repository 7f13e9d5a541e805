/**
 * npm run screenshots -- [--out DIR] [--lang en|zh]
 *
 * The README's tour pictures, made the way a newcomer would see them: starts an embedded SealTrace
 * in a fresh temporary DATA_DIR, runs `npm run demo` against it (brand "demo"), and with Debian's
 * chromium (playwright-core; no browser is ever downloaded) takes 375-px-wide screenshots of the
 * consumer page (a bottle just bought, a diverted one, an opened one, a copied one) and of the
 * console (the brand's overview and diversions, the store's own view), as small PNGs in
 * docs/screenshots/. Same command, same pictures (serials, keys and times aside): fixed brand,
 * bottle count, language, viewport, time zone; everything it started is stopped and removed.
 *
 * Needs /usr/bin/chromium (apt-get install chromium) and a CJK font for the Chinese names
 * (apt-get install fonts-noto-cjk). Exit 0: written; 1: something failed; 2: usage error.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import type { Browser, Page } from "playwright-core";
import { CHROMIUM_PATH, launchBrowser } from "../test/helpers/browser.ts";
import { loadConfig } from "../service/config.ts";
import { createLogger } from "../service/log.ts";
import { startRuntime, type Runtime } from "../service/runtime.ts";
import type { Summary } from "./demo.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const USAGE = `usage: npm run screenshots -- [--out DIR] [--lang en|zh]
  --out DIR     where the PNGs go (default docs/screenshots)
  --lang en|zh  the pages' language (default en)`;
/** A phone's width; pages are cut at this height so the pictures stay small. */
const WIDTH = 375;
const MAX_HEIGHT = 1_200;
const BRAND = "demo";
const BOTTLES = "120";

const run = promisify(execFile);

class UsageError extends Error {}

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function hasCjkFont(): Promise<boolean> {
  try {
    const { stdout } = await run("fc-list", [":lang=zh", "family"]);
    return stdout.trim() !== "";
  } catch {
    return false;
  }
}

/** Cuts the page at MAX_HEIGHT, from the top: the verdict and what follows it. */
async function shoot(page: Page, file: string): Promise<void> {
  const height = Math.min(MAX_HEIGHT, await page.evaluate(() => document.documentElement.scrollHeight));
  await page.screenshot({ path: file, fullPage: true, clip: { x: 0, y: 0, width: WIDTH, height }, animations: "disabled", caret: "hide" });
}

async function main(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { out: { type: "string" }, lang: { type: "string", default: "en" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const lang = values.lang;
  if (lang !== "en" && lang !== "zh") throw new UsageError(`--lang must be en or zh (got "${lang}")`);
  const out = resolve(ROOT, values.out ?? "docs/screenshots");
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Debian's chromium is missing at ${CHROMIUM_PATH}: apt-get install -y chromium (no browser is downloaded)`);
  if (!(await hasCjkFont())) throw new Error("no CJK font: the brand's Chinese names would be empty boxes; apt-get install -y fonts-noto-cjk");

  const dir = await mkdtemp(join(tmpdir(), "sealtrace-screenshots-"));
  let runtime: Runtime | null = null;
  let browser: Browser | null = null;
  try {
    const adminToken = `adm_${randomBytes(18).toString("base64url")}`;
    progress(`Starting an embedded SealTrace in ${dir} …`);
    runtime = await startRuntime(loadConfig({ DATA_DIR: dir, PORT: "0", SEAL_INTERVAL_MS: "300", LOG_LEVEL: "silent", ADMIN_TOKEN: adminToken }), {
      role: "all",
      log: createLogger("silent"),
    });
    const api = runtime.url!;

    progress("Running the demo …");
    const { stdout } = await run(
      process.execPath,
      ["scripts/demo.ts", "--api", api, "--admin-token", adminToken, "--brand", BRAND, "--bottles", BOTTLES, "--json", "--out", join(dir, "proof.json")],
      { cwd: ROOT, env: { ...process.env, ADMIN_TOKEN: "", SEALTRACE_URL: "", DATA_DIR: "" }, maxBuffer: 16 * 1024 * 1024 },
    );
    const summary = JSON.parse(stdout) as Summary;
    const url = (key: Summary["stories"][number]["key"]) => summary.stories.find((s) => s.key === key)!.url;

    browser = await launchBrowser(["--font-render-hinting=none"]);
    const phone = {
      viewport: { width: WIDTH, height: 812 },
      deviceScaleFactor: 1,
      isMobile: true,
      hasTouch: true,
      locale: lang === "en" ? "en-GB" : "zh-CN",
      timezoneId: "Asia/Shanghai",
      colorScheme: "light" as const,
      reducedMotion: "reduce" as const,
    };
    await mkdir(out, { recursive: true });
    const written: string[] = [];
    const save = async (page: Page, name: string) => {
      const file = join(out, `${name}.png`);
      await shoot(page, file);
      written.push(`${name}.png (${Math.round((await stat(file)).size / 1024)} KB)`);
    };

    // The consumer page: the browser's visit is each bottle's consumer scan from 127.0.0.1 (no place).
    for (const [key, name] of [
      ["just_bought", "consumer-just-bought"],
      ["diverted", "consumer-diverted"],
      ["opened", "consumer-opened"],
      ["copied", "consumer-copied"],
    ] as const) {
      const context = await browser.newContext(phone);
      const page = await context.newPage();
      const response = await page.goto(`${url(key)}&lang=${lang}`, { waitUntil: "load" });
      if (response?.status() !== 200) throw new Error(`${key}: the page answered ${response?.status()}`);
      await save(page, name);
      await context.close();
    }

    // The console: the brand's manager, then the store's clerk, each signing in with the brand code.
    const [manager, clerk] = summary.console.users as [Summary["console"]["users"][number], Summary["console"]["users"][number]];
    for (const [user, views] of [
      [
        manager,
        [
          ["/console/overview", "console-overview"],
          ["/console/alerts?kind=diversion", "console-diversions"],
        ],
      ],
      [clerk, [[new URL(clerk.landingUrl).pathname, "console-store"]]],
    ] as const) {
      const context = await browser.newContext(phone);
      const page = await context.newPage();
      await page.goto(`${api}/console/sign-in?brand=${summary.console.brandCode}&lang=${lang}`);
      await page.fill("#username", user.username);
      await page.fill("#password", user.password);
      await Promise.all([page.waitForURL((u) => !u.pathname.endsWith("/sign-in")), page.click("form[action='/console/sign-in'] button[type=submit]")]);
      for (const [path, name] of views) {
        const response = await page.goto(`${api}${path}`, { waitUntil: "load" });
        if (response?.status() !== 200) throw new Error(`${path}: the console answered ${response?.status()}`);
        // The charts draw after load; wait for every canvas to be painted once.
        await page.waitForFunction(() => [...document.querySelectorAll("canvas[data-chart]")].every((c) => c.getAttribute("data-rendered") !== null), null, {
          timeout: 10_000,
        });
        await page.waitForTimeout(300);
        await save(page, name);
      }
      await context.close();
    }
    process.stdout.write(`wrote ${written.length} screenshots to ${out}:\n${written.map((w) => `  ${w}`).join("\n")}\n`);
  } finally {
    await browser?.close();
    await runtime?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  () => {
    process.exitCode = 0;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`screenshots: ${error.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      const stderr = (error as { stderr?: string }).stderr;
      process.stderr.write(`screenshots: ${(error as Error).message}${stderr ? `\n${stderr}` : ""}\n`);
      process.exitCode = 1;
    }
  },
);

/**
 * A real browser for the e2e tests: Debian's chromium (apt-get install chromium) driven by
 * playwright-core. No browser is ever downloaded; CI installs the package (.ci/run).
 * One browser per test file, a fresh context (cookies, cache, storage) per test.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from "playwright-core";

export const CHROMIUM_PATH = "/usr/bin/chromium";
export const SCREENSHOT_DIR = fileURLToPath(new URL("../../test-output/screenshots/", import.meta.url));

/** Debian's chromium, headless; `extraArgs` for callers that need more (the screenshots pin font hinting). */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `the browser tests need Debian's chromium at ${CHROMIUM_PATH}, which is missing: ` +
        "install it with `apt-get install -y chromium` (.ci/run does so); no browser is downloaded",
    );
  }
  return await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}

/** A page in a context of its own, so that nothing (cache, routes, storage) leaks between tests. */
export async function newPage(browser: Browser, options: BrowserContextOptions = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  return { context, page };
}

/** Saves a full-page screenshot as test-output/screenshots/<name>.png and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name.replace(/[^A-Za-z0-9._-]+/g, "-")}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

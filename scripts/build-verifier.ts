/**
 * npm run build:verifier [-- --out FILE]
 *
 * Builds the standalone verifier, dist/sealtrace-verifier.html: ONE self-contained file that
 * anyone can host or open from disk to check a proof bundle without trusting SealTrace's servers.
 * Its script (service/verify/client/standalone.ts with service/core, bundled by esbuild) and its
 * stylesheet are inline; its Content-Security-Policy allows exactly them (by SHA-256) and
 * connections to the JSON-RPC URL the user types (connect-src *), nothing else: no request leaves
 * the page but those to the chain. The bytes depend only on the sources and the locked esbuild,
 * so the file's SHA-256 (printed last) can be published and anyone can rebuild it and compare.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const ROOT = new URL("../", import.meta.url);
const ENTRY = new URL("service/verify/client/standalone.ts", ROOT);
const STYLESHEETS = [new URL("service/verify/assets/page.css", ROOT), new URL("service/verify/assets/verifier.css", ROOT)];
export const DEFAULT_OUT = fileURLToPath(new URL("dist/sealtrace-verifier.html", ROOT));

const sha256 = (text: string, encoding: "hex" | "base64"): string => createHash("sha256").update(text, "utf8").digest(encoding);

/** The verifier's script: the UI module and service/core, minified into one classic script. */
async function script(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(ENTRY)],
    absWorkingDir: fileURLToPath(ROOT),
    bundle: true,
    write: false,
    format: "iife",
    target: "es2022",
    minify: true,
    platform: "browser",
    sourcemap: false,
    charset: "utf8",
    legalComments: "none",
    logLevel: "silent",
  });
  const code = result.outputFiles[0]?.text;
  if (code === undefined) throw new Error("esbuild produced no output for the verifier");
  // Inside <script>, these would end the element or change how the browser reads it.
  if (/<\/script|<!--/i.test(code)) throw new Error("the bundled verifier contains </script or <!--: it cannot be inlined as it is");
  return code;
}

async function stylesheet(): Promise<string> {
  const css = (await Promise.all(STYLESHEETS.map((url) => readFile(url, "utf8")))).join("\n");
  if (/<\/style/i.test(css)) throw new Error("the stylesheets contain </style");
  return css;
}

/** The page, with English words (the script switches them to Chinese for a Chinese browser). */
function page(code: string, css: string): string {
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${sha256(code, "base64")}'`,
    `style-src 'sha256-${sha256(css, "base64")}'`,
    "connect-src *",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>SealTrace proof verifier</title>
<link rel="icon" href="data:,">
<style>${css}</style>
</head>
<body>
<header class="verdict verdict-neutral">
<h1 data-t="title">SealTrace proof verifier</h1>
<p data-t="intro"></p>
</header>
<main>
<section class="card" aria-labelledby="form-h">
<form id="verify" novalidate>
<p><label for="bundle-file" id="form-h" data-t="fileLabel">Proof file (.json)</label>
<input id="bundle-file" type="file" accept=".json,application/json"></p>
<p><label for="rpc-url" data-t="rpcLabel">Chain JSON-RPC URL</label>
<input id="rpc-url" type="url" inputmode="url" autocomplete="off" spellcheck="false" placeholder="https://">
<span class="hint" data-t="rpcHint"></span></p>
<fieldset>
<legend data-t="trustLegend">What to trust</legend>
<p><label for="chain-id" data-t="chainLabel">Chain id</label>
<input id="chain-id" type="text" inputmode="numeric" autocomplete="off"></p>
<p><label for="registry" data-t="registryLabel">Registry contract address</label>
<input id="registry" type="text" autocomplete="off" spellcheck="false" placeholder="0x…">
<span class="hint" data-t="trustHint"></span></p>
</fieldset>
<p><label for="max-age" data-t="maxAgeLabel">Completeness proof may be this old (seconds)</label>
<input id="max-age" type="text" inputmode="numeric" autocomplete="off" value="3600"></p>
<button id="run" type="submit" data-t="run">Verify</button>
</form>
</section>
<section id="verifier" class="card" aria-labelledby="result-h" aria-live="polite">
<h2 id="result-h" data-t="result">Result</h2>
<p id="trusted"></p>
<p id="verdict"></p>
<ol id="results"></ol>
<p id="summary"></p>
</section>
<noscript><p class="card">This verifier needs JavaScript.</p></noscript>
</main>
<footer><span data-t="footer"></span><button id="lang" type="button" data-t="switchLang">中文</button></footer>
<script>${code}</script>
</body>
</html>
`;
}

/** The verifier's bytes and their SHA-256 (hex). Same sources, same bytes. */
export async function buildVerifier(): Promise<{ html: string; sha256: string }> {
  const html = page(await script(), await stylesheet());
  return { html, sha256: sha256(html, "hex") };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  const out = resolve(values.out ?? DEFAULT_OUT);
  const { html, sha256: digest } = await buildVerifier();
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, html);
  console.log(`wrote ${out} (${Buffer.byteLength(html)} bytes)`);
  console.log(`SHA-256 ${digest}`);
}

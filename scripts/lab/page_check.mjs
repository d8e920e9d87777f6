// Drives the page of `losslab serve` in headless Chromium, in English and in Chinese:
// loads it, moves a logit slider with the keyboard (real key events), waits for the
// page's requests, and checks that the cross entropy it displays equals what
// `losslab eval` computes for the same logits and label; checks that each language's
// page links to the other; writes a screenshot of each.
//
//   node scripts/lab/page_check.mjs target/debug/losslab target/page-check
//
// Needs Node 18+ and Chromium (Debian's `chromium`; CHROMIUM=path to choose another),
// with a CJK font for the Chinese screenshot (Debian's fonts-wqy-zenhei). Talks to
// Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe): no npm
// package, no network. Exits non-zero, with the reason, on any failure.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [losslab, outDir = "target/page-check"] = process.argv.slice(2);
if (!losslab) {
  console.error("usage: node scripts/lab/page_check.mjs PATH/TO/losslab [OUT_DIR]");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const chromiumPath = process.env.CHROMIUM || "chromium";
const fail = (msg) => { console.error("page check: " + msg); cleanup(); process.exit(1); };

// The server, on a free port.
const server = spawn(losslab, ["serve", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, LANG: "C" } });
const address = await new Promise((resolve, reject) => {
  let text = "";
  server.stdout.on("data", (d) => {
    text += d;
    const m = text.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
    if (m) resolve(m[0]);
  });
  server.on("exit", (code) => reject(new Error("losslab serve exited with " + code)));
  setTimeout(() => reject(new Error("losslab serve printed no address")), 20000);
}).catch((e) => fail(e.message));

const profile = mkdtempSync(join(tmpdir(), "losslab-chromium-"));
const chrome = spawn(chromiumPath, [
  "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-extensions", "--disable-background-networking", `--user-data-dir=${profile}`, "about:blank",
], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
chrome.on("error", (e) => fail(`cannot start ${chromiumPath}: ${e.message}`));
let chromeLog = "";
chrome.stderr.on("data", (d) => { chromeLog = (chromeLog + d).slice(-4000); });

function cleanup() {
  try { server.kill(); } catch {}
  try { chrome.kill(); } catch {}
  try { rmSync(profile, { recursive: true, force: true }); } catch {}
}

// The DevTools protocol on fds 3 (to Chromium) and 4 (from it): JSON messages ended by NUL.
const toChrome = chrome.stdio[3], fromChrome = chrome.stdio[4];
let nextId = 1, buffer = Buffer.alloc(0);
const waiting = new Map();
fromChrome.on("data", (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  let end;
  while ((end = buffer.indexOf(0)) >= 0) {
    const msg = JSON.parse(buffer.subarray(0, end).toString("utf8"));
    buffer = buffer.subarray(end + 1);
    if (msg.id && waiting.has(msg.id)) {
      const { resolve, reject } = waiting.get(msg.id);
      waiting.delete(msg.id);
      msg.error ? reject(new Error(JSON.stringify(msg.error))) : resolve(msg.result);
    }
  }
});
function send(method, params = {}, sessionId) {
  const id = nextId++;
  toChrome.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + "\0");
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    setTimeout(() => { if (waiting.delete(id)) reject(new Error(`${method}: no answer (chromium: ${chromeLog})`)); }, 30000);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function evaluate(session, expression) {
  const r = await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, session);
  if (r.exceptionDetails) throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails)}`);
  return r.result.value;
}
async function waitFor(session, expression, what) {
  for (let k = 0; k < 200; k++) {
    if (await evaluate(session, expression).catch(() => false)) return;
    await sleep(100);
  }
  fail(`timed out waiting for ${what}`);
}

// A .npy file (float64 or int64, C order) for `losslab eval`.
function npy(path, descr, shape, values) {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n";
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  const data = Buffer.alloc(8 * values.length);
  values.forEach((v, k) => (descr === "<i8" ? data.writeBigInt64LE(BigInt(v), 8 * k) : data.writeDoubleLE(v, 8 * k)));
  writeFileSync(path, Buffer.concat([head, Buffer.from(header, "latin1"), data]));
}

try {
  for (const lang of ["en", "zh"]) {
    const { targetId } = await send("Target.createTarget", { url: "about:blank" });
    const { sessionId: s } = await send("Target.attachToTarget", { targetId, flatten: true });
    await send("Page.enable", {}, s);
    await send("Emulation.setDeviceMetricsOverride", { width: 1200, height: 2200, deviceScaleFactor: 1, mobile: false }, s);
    await send("Page.navigate", { url: `${address}?lang=${lang}` }, s);
    await waitFor(s, "document.readyState === 'complete' && !!window.losslabIdle && window.losslabIdle() && document.getElementById('ce-value').textContent !== ''", "the page's first answers");

    const htmlLang = await evaluate(s, "document.documentElement.lang");
    const other = await evaluate(s, "document.getElementById('other').getAttribute('href')");
    const want = lang === "en" ? ["en", "/?lang=zh"] : ["zh-CN", "/?lang=en"];
    if (htmlLang !== want[0] || other !== want[1]) fail(`${lang}: lang=${htmlLang}, link to ${other}; expected ${want}`);
    const title = await evaluate(s, "document.getElementById('ce-title').textContent");
    if (lang === "zh" && !/交叉熵/.test(title)) fail(`zh: the section title is not Chinese: ${title}`);

    // Move the first logit's slider with the keyboard: 7 steps left (0.1 each), and choose class 2.
    await evaluate(s, "document.getElementById('z0').focus(), true");
    for (let k = 0; k < 7; k++) {
      for (const type of ["keyDown", "keyUp"]) {
        await send("Input.dispatchKeyEvent", { type, key: "ArrowLeft", code: "ArrowLeft", windowsVirtualKeyCode: 37 }, s);
      }
    }
    await evaluate(s, "(() => { const l = document.getElementById('label'); l.value = '2'; l.dispatchEvent(new Event('change')); return true; })()");
    await sleep(100);
    await waitFor(s, "window.losslabIdle()", "the answers to the moved control");
    const z = await evaluate(s, "[0, 1, 2].map((k) => +document.getElementById('z' + k).value)");
    if (Math.abs(z[0] - 1.3) > 1e-9) fail(`${lang}: the slider did not move as the keys asked: z = ${z}`);
    const shown = await evaluate(s, "document.getElementById('ce-value').textContent");

    // What `losslab eval` computes for the same input.
    const dir = mkdtempSync(join(tmpdir(), "losslab-page-"));
    npy(join(dir, "input.npy"), "<f8", [1, 3], z);
    npy(join(dir, "target.npy"), "<i8", [1], [2]);
    const out = execFileSync(losslab, ["eval", "torch:cross_entropy", "--tensor", `input=${join(dir, "input.npy")}`, "--tensor", `target=${join(dir, "target.npy")}`]).toString();
    rmSync(dir, { recursive: true, force: true });
    const expected = JSON.parse(out).value;
    if (Number(shown) !== expected) fail(`${lang}: the page shows cross entropy ${shown}, losslab eval computes ${expected} for logits ${z}, class 2`);

    const { data } = await send("Page.captureScreenshot", { format: "png" }, s);
    const png = join(outDir, `page-${lang}.png`);
    writeFileSync(png, Buffer.from(data, "base64"));
    console.log(`page check (${lang}): logits ${z.join(", ")}, class 2: the page shows ${shown}, losslab eval ${expected}; screenshot ${png}`);
    await send("Target.closeTarget", { targetId });
  }
} catch (e) {
  fail(e.stack || String(e));
}
cleanup();
process.exit(0);

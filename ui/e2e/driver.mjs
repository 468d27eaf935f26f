// Driving the real app window through tauri-driver and WebKitWebDriver:
// what the window tests (app.test.mjs) and the plot benchmark
// (plot-bench.mjs) share.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Builder, By, Capabilities, Key, error } from "selenium-webdriver";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../..");
export const application = process.env.C2S_STUDIO_BIN ?? path.join(root, "target/debug/c2s-studio");

/** One app window at a time; `app.driver` is the WebDriver session. */
export const app = { driver: null, driverProc: null };

/** Where tauri-driver, WebKitWebDriver and the app write their messages. */
export const driverLog = path.join(here, "screenshots", "driver.log");

/** Temporary folders made for a run, removed by stopDriver. */
const made = [];

/** A new temporary folder that stopDriver removes (one run a process). */
export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * Starts tauri-driver, with a fresh project store for the app. It leads a
 * process group of its own, which WebKitWebDriver, the app and WebKit's
 * helper processes join, so stopDriver can end them all; and it writes to a
 * log file, not to the test runner's pipes: node's runner waits for every
 * holder of its child's stderr to exit, so one helper left running after the
 * test would keep the whole test command waiting.
 */
export async function startDriver({ installed = false, cwd = undefined } = {}) {
  // An installed app runs as a scientist starts it: its own data folder,
  // demo and model cache, found without these variables.
  if (!installed) {
    process.env.C2S_STUDIO_HOME ??= tempDir("c2s-studio-e2e-");
    process.env.C2S_STUDIO_DEMO ??= path.join(root, "assets/pbmc3k-10x.h5ad");
    // Downloads and accepted licences in the test's own Hugging Face cache.
    process.env.HF_HOME ??= path.join(process.env.C2S_STUDIO_HOME, "huggingface");
  }
  // No Hub: a closed port, so the app's offline path is what runs.
  process.env.HF_ENDPOINT ??= "http://127.0.0.1:9";
  // What the app's next native dialog answers (see pick).
  process.env.C2S_STUDIO_PICKS ??= path.join(tempDir("c2s-studio-picks-"), "next");
  // Where "Show in folder" logs what it would show (no file manager under Xvfb).
  process.env.C2S_STUDIO_SHOWN ??= path.join(path.dirname(process.env.C2S_STUDIO_PICKS), "shown");
  const bin = process.env.TAURI_DRIVER ?? path.join(os.homedir(), ".cargo/bin/tauri-driver");
  fs.mkdirSync(path.dirname(driverLog), { recursive: true });
  const log = fs.openSync(driverLog, "a");
  app.driverProc = spawn(bin, [], { stdio: ["ignore", log, log], detached: true, cwd });
  fs.closeSync(log);
  await new Promise((r) => setTimeout(r, 1500));
}

/**
 * Ends the WebDriver session, then every process of tauri-driver's group,
 * then removes the run's temporary folders (the callers' own, named by
 * their variables, stay).
 */
export async function stopDriver() {
  await app.driver?.quit().catch(() => {});
  const group = app.driverProc?.pid;
  if (group) {
    for (const [signal, grace] of [["SIGTERM", 3000], ["SIGKILL", 0]]) {
      try {
        process.kill(-group, signal);
      } catch {
        break; // ESRCH: the group has ended
      }
      await new Promise((r) => setTimeout(r, grace));
    }
  }
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Opens the app's window. */
export async function launch() {
  const caps = new Capabilities();
  caps.set("tauri:options", { application });
  caps.setBrowserName("wry");
  app.driver = await new Builder().withCapabilities(caps).usingServer("http://127.0.0.1:4444/").build();
  await app.driver.manage().setTimeouts({ implicit: 0 });
}

export const byTest = (id) => By.css(`[data-testid="${id}"]`);

/**
 * Waits until `condition` returns something truthy, and returns it. React
 * replaces elements as it renders, and WebKitWebDriver then reports an element
 * stale, even from within findElements when the node goes between its query
 * and its handle; such a condition is asked again, as if it had said no.
 * So is one whose query came back unreadable: WebKitWebDriver answers "Could
 * not parse element info" when the page's reply to findElements is not JSON
 * (WebDriverService.cpp). That failed the journey in about one CI run in seven,
 * each passing on a rerun; a query asked again reads the page as it is.
 */
export async function waitFor(condition, timeout, message) {
  return app.driver.wait(
    async () => {
      try {
        return await condition();
      } catch (e) {
        if (e instanceof error.StaleElementReferenceError) return false;
        if (e instanceof error.WebDriverError && /Could not parse element info/.test(e.message)) return false;
        throw e;
      }
    },
    timeout,
    message,
  );
}

/** The first element of a test id, once there is one. */
export async function find(id, timeout = 30_000) {
  return waitFor(async () => (await app.driver.findElements(byTest(id)))[0], timeout, `waiting for ${id}`);
}

/** An element's text, read from the element there now. */
export async function textOf(id, timeout = 30_000) {
  return waitFor(async () => ({ text: await (await find(id, timeout)).getText() }), timeout, `reading ${id}`).then((r) => r.text);
}

export async function click(id, timeout = 30_000) {
  return waitFor(
    async () => {
      const el = (await app.driver.findElements(byTest(id)))[0];
      if (!el || !(await el.isEnabled())) return false;
      await el.click();
      return el;
    },
    timeout,
    `waiting for ${id} to be enabled`,
  );
}

export async function type(id, text) {
  await waitFor(
    async () => {
      const el = await find(id);
      await el.clear();
      // clear() sets the DOM value behind React's back, so a controlled
      // input can come back with its old text: delete what is left by key.
      const left = (await el.getAttribute("value")) ?? "";
      if (left) await el.sendKeys(Key.END, ...Array(left.length).fill(Key.BACK_SPACE));
      await el.sendKeys(text);
      // Checked, not assumed: a mistyped path fails later and far away.
      return (await el.getAttribute("value")) === text;
    },
    30_000,
    `typing into ${id}`,
  );
}

/**
 * Answers the app's next native dialog with `file` (WebKitWebDriver cannot
 * drive GTK's dialog; the app reads C2S_STUDIO_PICKS instead), then clicks
 * the button `id` that opens it. The dialog is how the page may name a path.
 */
export async function pick(file, id) {
  fs.writeFileSync(process.env.C2S_STUDIO_PICKS, `${file}\n`);
  await click(id);
  await waitFor(async () => !fs.existsSync(process.env.C2S_STUDIO_PICKS), 30_000, `waiting for the dialog of ${id} to answer`);
}

/** Calls an app command from the page, as its own script could: the command's answer, or "refused: ..." */
export async function invokeFromPage(command, args) {
  return app.driver.executeAsyncScript(
    `const done = arguments[arguments.length - 1];
     window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1]).then((r) => done(r), (e) => done("refused: " + String(e)));`,
    command,
    args,
  );
}

/** A process that has not ended (a zombie has: it only waits to be reaped). */
export function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/**
 * The serious and critical WCAG 2.1 A and AA violations that axe-core finds
 * on the page as it is now: `[{ id, impact, help, nodes }]`, empty when none.
 */
export async function accessibilityViolations() {
  await app.driver.executeScript(fs.readFileSync(path.join(here, "../node_modules/axe-core/axe.min.js"), "utf8"));
  const found = await app.driver.executeAsyncScript(
    `const done = arguments[arguments.length - 1];
     window.axe
       .run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, resultTypes: ["violations"] })
       .then((r) => done(JSON.stringify(r.violations
         .filter((v) => v.impact === "serious" || v.impact === "critical")
         .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + ": " + n.failureSummary) })))))
       .catch((e) => done(JSON.stringify([{ id: "axe-failed", impact: "critical", help: String(e), nodes: [] }])));`,
  );
  return JSON.parse(found);
}

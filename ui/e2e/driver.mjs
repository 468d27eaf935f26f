// Driving the real app window through tauri-driver and WebKitWebDriver:
// what the window tests (app.test.mjs) and the plot benchmark
// (plot-bench.mjs) share.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Builder, By, Capabilities, until } from "selenium-webdriver";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../..");
export const application = process.env.C2S_STUDIO_BIN ?? path.join(root, "target/debug/c2s-studio");

/** One app window at a time; `app.driver` is the WebDriver session. */
export const app = { driver: null, driverProc: null };

/** Starts tauri-driver, with a fresh project store for the app. */
export async function startDriver() {
  process.env.C2S_STUDIO_HOME ??= fs.mkdtempSync(path.join(os.tmpdir(), "c2s-studio-e2e-"));
  process.env.C2S_STUDIO_DEMO ??= path.join(root, "assets/pbmc3k-10x.h5ad");
  const bin = process.env.TAURI_DRIVER ?? path.join(os.homedir(), ".cargo/bin/tauri-driver");
  app.driverProc = spawn(bin, [], { stdio: [null, process.stdout, process.stderr] });
  await new Promise((r) => setTimeout(r, 1500));
}

export async function stopDriver() {
  await app.driver?.quit().catch(() => {});
  app.driverProc?.kill();
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

export async function find(id, timeout = 30_000) {
  return app.driver.wait(until.elementLocated(byTest(id)), timeout, `waiting for ${id}`);
}

export async function click(id, timeout) {
  const el = await find(id, timeout);
  await app.driver.wait(until.elementIsEnabled(el), timeout ?? 30_000, `waiting for ${id} to be enabled`);
  await el.click();
  return el;
}

export async function type(id, text) {
  const el = await find(id);
  await el.clear();
  await el.sendKeys(text);
}

/** A process that has not ended (a zombie has: it only waits to be reaped). */
export function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

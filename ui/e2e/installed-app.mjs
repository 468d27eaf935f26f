// The installed app (scripts/test.sh builds the .deb and installs it first),
// started as a scientist starts it: /usr/bin/c2s-studio, no C2S variables, a
// fresh home folder, from a folder without the source. It finds its demo
// dataset among its own resources, converts it into its own data folder, and
// says which version it is with its licence and third-party notices.
//
// usage (under Xvfb): C2S_STUDIO_BIN=/usr/bin/c2s-studio node --test e2e/installed-app.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { app, application, click, find, invokeFromPage, launch, startDriver, stopDriver, tempDir, textOf, waitFor } from "./driver.mjs";

const sourceTree = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");

before(async () => {
  assert.ok(application.startsWith("/usr/"), `C2S_STUDIO_BIN: the installed app, not ${application}`);
  for (const v of ["C2S_STUDIO_HOME", "C2S_STUDIO_DEMO", "HF_HOME"]) assert.equal(process.env[v], undefined, `${v} is set`);
  await startDriver({ installed: true, cwd: tempDir("c2s-studio-cwd-") });
  await launch();
});

after(stopDriver);

test("the installed app opens its bundled demo dataset and converts it", { timeout: 5 * 60_000 }, async () => {
  const info = await invokeFromPage("app_info", {});
  assert.match(info.demo_path ?? "", /^\/usr\/lib\//, "the demo comes from the package's resources");
  assert.ok(info.home.startsWith(path.join(os.homedir(), ".local/share/")), `data folder: ${info.home}`);
  for (const p of [info.demo_path, info.home]) assert.ok(!p.startsWith(sourceTree), `${p} is in the source tree`);

  await click("try-demo");
  assert.match(await textOf("stat-cells", 60_000), /2,?\d{3}/);
  await click("to-convert");
  await click("run-convert");
  await waitFor(async () => {
    const s = await (await find("job-convert")).getAttribute("data-status");
    return s !== "running" && s;
  }, 180_000, "waiting for the conversion").then((s) => assert.equal(s, "ok"));
  await find("convert-done");

  // Help / About: the version of the package, its licence, and the notices.
  await click("nav-about");
  const version = execFileSync("c2s", ["--version"], { encoding: "utf8" }).trim().split(" ").pop();
  assert.equal(await textOf("about-version"), `Version ${version}`);
  const notices = await (await find("about-notices")).getAttribute("textContent");
  assert.match(notices, /hdf5-metno-src .*\(crate\)/);
  assert.match(notices, /react .*\(npm\): MIT/);
  await click("about-close");
  fs.mkdirSync(path.join(sourceTree, "ui/e2e/screenshots"), { recursive: true });
  fs.writeFileSync(path.join(sourceTree, "ui/e2e/screenshots", "installed-app.png"), await app.driver.takeScreenshot(), "base64");
});

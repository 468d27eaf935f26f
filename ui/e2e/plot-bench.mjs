// Benchmark (bench/plot.sh): the dataset map of 50,000 cells in the real app
// window. Prints the time to compute the map (sample, PCA), to draw it, and
// the frame interval while zooming and hovering.
//
// usage: node e2e/plot-bench.mjs FILE.h5ad   (under Xvfb, tauri-driver installed)
import { By } from "selenium-webdriver";
import { app, click, find, launch, pick, startDriver, stopDriver } from "./driver.mjs";

const file = process.argv[2];
const points = 50_000;
await startDriver();
try {
  await launch();
  await pick(file, "open-file");
  await find("stat-cells", 120_000);
  const map = await find("dataset-map", 300_000);
  const select = await find("map-cells");
  const t0 = Date.now();
  await select.findElement(By.css(`option[value="${points}"]`)).click();
  await app.driver.wait(
    async () => (await map.getAttribute("data-points")) === String(points) && (await map.getAttribute("data-render-ms")) !== null,
    600_000,
    `waiting for ${points} points to be drawn`,
  );
  const total = (Date.now() - t0) / 1000;
  const draw = Number(await map.getAttribute("data-render-ms"));
  // Zoom in and out with the wheel, then sweep the pointer over the points,
  // one event per frame; the intervals between frames say how smooth it is.
  const frames = await app.driver.executeAsyncScript(`
    const done = arguments[arguments.length - 1];
    const canvas = document.querySelector('[data-testid="dataset-map"] canvas');
    const r = canvas.getBoundingClientRect();
    const out = { zoom: [], hover: [] };
    let last = performance.now(), n = 0;
    function tick(t) {
      const phase = n < 120 ? "zoom" : "hover";
      if (n > 0) out[phase].push(t - last);
      last = t;
      const at = { clientX: r.left + r.width * (0.2 + 0.6 * ((n % 60) / 60)), clientY: r.top + r.height / 2, bubbles: true };
      if (n < 120) canvas.dispatchEvent(new WheelEvent("wheel", { ...at, deltaY: n % 60 < 30 ? -80 : 80 }));
      else canvas.dispatchEvent(new MouseEvent("mousemove", at));
      if (++n < 240) requestAnimationFrame(tick); else done(out);
    }
    requestAnimationFrame(tick);
  `);
  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    return `median ${q(0.5).toFixed(1)} ms (${(1000 / q(0.5)).toFixed(0)} frames/s), 95th percentile ${q(0.95).toFixed(1)} ms`;
  };
  console.log(`map of ${points.toLocaleString()} cells: ${total.toFixed(1)} s from the click to the drawn map, drawing ${draw} ms`);
  console.log(`zooming: ${stats(frames.zoom)}`);
  console.log(`hovering: ${stats(frames.hover)}`);
} finally {
  await stopDriver();
}

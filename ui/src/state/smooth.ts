/**
 * A noisy curve smoothed as TensorBoard smooths one: an exponential moving
 * average with `weight` on the past, debiased so the first points are not
 * pulled towards zero. Each point keeps its step. The default weight averages
 * over about a twentieth of the curve (0.5 for 40 points, 0.9 for 200, at most
 * 0.98), so a short run is not drawn lagging behind its own loss.
 */
export function smooth(points: [number, number][], weight = Math.min(0.98, Math.max(0, 1 - 20 / points.length))): [number, number][] {
  let avg = 0;
  return points.map(([x, y], i) => {
    avg = avg * weight + (1 - weight) * y;
    return [x, avg / (1 - weight ** (i + 1))];
  });
}

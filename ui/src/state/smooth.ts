/**
 * A noisy curve smoothed as TensorBoard smooths one: an exponential moving
 * average with `weight` on the past, debiased so the first points are not
 * pulled towards zero. Each point keeps its step.
 */
export function smooth(points: [number, number][], weight = 0.9): [number, number][] {
  let avg = 0;
  return points.map(([x, y], i) => {
    avg = avg * weight + (1 - weight) * y;
    return [x, avg / (1 - weight ** (i + 1))];
  });
}

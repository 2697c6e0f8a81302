// The probed loop of bench/probe-pass.ts, in a module of its own: a live edit (the `liveEdit` form)
// changes this script while probe-pass.ts's top-level code runs. The probed line is the loop's
// second statement (the function's fifth line), its guard at the end of the line above.
export function target(n: number, order: { total: number }): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    s += i % 7;
    s += order.total;
  }
  return s;
}

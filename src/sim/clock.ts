// Simulated time. "manual": time moves only when told to (tests, scenarios); "scaled":
// simulated time runs at `scale` times wall time from an anchor (demos).

export type ClockMode = "manual" | "scaled";

export interface ClockState {
  mode: ClockMode;
  /** Wall time (ms since the epoch) at which `anchorSimMs` was the simulated time. */
  anchorWallMs: number;
  anchorSimMs: number;
  scale: number;
  /** Bumped on every change, so a host can tell a clock read before a change from one after. */
  generation: number;
}

export function simNow(clock: ClockState, wallMs: number): number {
  if (clock.mode === "manual") return clock.anchorSimMs;
  return clock.anchorSimMs + Math.floor((wallMs - clock.anchorWallMs) * clock.scale);
}

/** The wall time at which simulated time reaches `simMs`; undefined when only a manual advance gets there. */
export function wallTimeAt(clock: ClockState, simMs: number): number | undefined {
  if (clock.mode === "manual") return undefined;
  return clock.anchorWallMs + Math.ceil((simMs - clock.anchorSimMs) / clock.scale);
}

/** The newer of two clocks: a request that read the clock before a change must not undo it. */
export function newer(a: ClockState | null, b: ClockState): ClockState {
  return a && a.generation > b.generation ? a : b;
}

// Letting an idle host object's model go. The model of a host with a few VMs holds over a
// megabyte of typed arrays (above all the TLBs of every hardware thread a VM runs on), and
// `wrangler dev` runs every host object of the fleet in one isolate, which the runtime
// restarts past 128 MB: a fleet of thousands of hosts fits only if an object that nobody
// called for a while gives its model up and loads it again from storage, the truth, when
// next called. What that costs: the CPU model's per-second windows, which are not stored,
// start again from the reload (as after an eviction); running totals survive.
export class Residency {
  /** True once the model was let go; the next use loads it from storage. */
  released = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  /** `idleMs` 0 (the default) keeps the model for the object's life, as the runtime decides. */
  constructor(
    private readonly idleMs: number,
    private readonly release: () => void,
  ) {}

  /** The model is in use: it stays for `idleMs` more from now. */
  touch(): void {
    if (!(this.idleMs > 0)) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.released = true;
      this.release();
    }, this.idleMs);
  }
}

// Letting an idle host object go. The model of a host with a few VMs holds over a megabyte
// of typed arrays (above all the TLBs of every hardware thread a VM runs on), and `wrangler
// dev` runs every host object of the fleet in one isolate, which the runtime restarts past
// 128 MB; and every open object keeps its SQLite database open, and in one process they share
// SQLite's heap (measured here: past about 2,400 open objects with this project's schema, about
// 3,300 with a one-table schema, SQLite answers SQLITE_NOMEM; REFERENCES.md, "Fleet scale in one
// local runtime"). The runtime closes an object only some ten seconds after its last call, and
// never while a request that called it is still running, so
// a fleet of thousands of hosts made or filled at hundreds a second fits only if an object
// that nobody called for a while closes itself: its model and its database go, and the next
// call opens it again from storage, the truth. What that costs: the CPU model's per-second
// windows, which are not stored, start again from the reload (as after an eviction);
// running totals survive.
export class Residency {
  /** True once the model was let go; the next use loads it from storage. */
  released = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Calls that started and have not finished: the object is not idle while one runs. */
  private inFlight = 0;

  /**
   * `idleMs` 0 (the default) keeps the model for the object's life, as the runtime decides.
   * `release` lets it go; it runs only when no call is in flight and `quiet()` says nothing
   * else is under way (a delivery the object owes), else the wait starts again.
   */
  constructor(
    private readonly idleMs: number,
    private readonly release: () => void,
    private readonly quiet: () => boolean = () => true,
  ) {}

  /** The model is in use: it stays for `idleMs` more from now. */
  touch(): void {
    if (!(this.idleMs > 0)) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.inFlight > 0 || !this.quiet()) {
        this.touch();
        return;
      }
      this.released = true;
      this.release();
    }, this.idleMs);
  }

  /** Runs `fn` as a call in flight: the object is not let go before it settles. */
  async during<T>(fn: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await fn();
    } finally {
      this.inFlight--;
      this.touch();
    }
  }
}

/**
 * Why a closed object refused a call: the runtime answers every call made through a stub
 * that reached the object before it closed with this, and the call never ran (the object
 * closes only with no call in flight). A fresh stub opens the object again.
 */
export const CLOSED_WHILE_IDLE = "the host object closed while idle; a new stub opens it again";

export function closedWhileIdle(err: unknown): boolean {
  return err instanceof Error && err.message.includes(CLOSED_WHILE_IDLE);
}

// Which host threads each VM's vCPUs are pinned to, for admission without a placement of its own.

/** vCPUs per host thread: least-loaded first, so 1:1 until overcommitted. */
export class PinMap {
  /** vCPUs pinned per thread. */
  declare readonly load: Int32Array;
  declare readonly first: number;

  /** Threads [first, threads) are available to guests (dom0 may own the ones below). */
  constructor(threads: number, first: number) {
    this.load = new Int32Array(threads);
    this.first = first;
  }

  assign(vcpus: number): number[] {
    const picked: number[] = [];
    for (let v = 0; v < vcpus; v++) {
      let best = this.first;
      for (let t = this.first + 1; t < this.load.length; t++) {
        if (this.load[t] < this.load[best]) best = t;
      }
      this.load[best]++;
      picked.push(best);
    }
    return picked;
  }

  take(threads: readonly number[]): void {
    for (const t of threads) this.load[t]++;
  }

  release(threads: readonly number[]): void {
    for (const t of threads) this.load[t]--;
  }
}

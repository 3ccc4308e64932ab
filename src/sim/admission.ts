// Host admission: which hardware threads and how much memory and local NVMe each VM holds.
// EC2 sells a vCPU as one hyperthread and never splits a core between instances, so VMs are
// pinned to whole cores, on one socket (one NUMA node) whenever one has room.

export interface HostHardware {
  sockets: number;
  coresPerSocket: number;
  threadsPerCore: number;
  memoryMiB: number;
  reservedThreads: number;
  reservedMemoryMiB: number;
  nvmeGB: number;
}

export interface Allocation {
  id: string;
  vcpus: number;
  memoryMiB: number;
  nvmeGB: number;
  /** Host hardware threads the vCPUs are pinned to, vCPU i on threads[i]. */
  threads: number[];
}

export interface CapacitySummary {
  vcpus: { total: number; reserved: number; used: number; free: number };
  memoryMiB: { total: number; reserved: number; used: number; free: number };
  nvmeGB: { total: number; used: number; free: number };
  vms: number;
}

const FREE = -1;
const HYPERVISOR = -2;

export class HostCapacity {
  readonly hw: HostHardware;
  /** Per hardware thread: FREE, HYPERVISOR, or the index of the owning allocation. */
  private readonly owner: Int32Array;
  private readonly allocations = new Map<string, Allocation>();
  private readonly slots: (string | undefined)[] = [];
  private memoryUsedMiB = 0;
  private nvmeUsedGB = 0;

  constructor(hw: HostHardware, existing: readonly Allocation[] = []) {
    this.hw = hw;
    const total = hw.sockets * hw.coresPerSocket * hw.threadsPerCore;
    if (hw.reservedThreads > total) throw new RangeError("reservedThreads exceeds the host's threads");
    this.owner = new Int32Array(total).fill(FREE);
    // The hypervisor's threads are the host's first ones, as dom0 is usually pinned (and as
    // the CPU model's pin map assumes).
    for (let t = 0; t < hw.reservedThreads; t++) this.owner[t] = HYPERVISOR;
    for (const a of existing) this.place(a);
  }

  get totalThreads(): number {
    return this.owner.length;
  }

  has(id: string): boolean {
    return this.allocations.has(id);
  }

  get(id: string): Allocation | undefined {
    return this.allocations.get(id);
  }

  list(): Allocation[] {
    return [...this.allocations.values()];
  }

  /** Pins and reserves; returns null (and changes nothing) when the VM does not fit. */
  allocate(id: string, vcpus: number, memoryMiB: number, nvmeGB = 0): Allocation | null {
    if (this.allocations.has(id)) throw new Error(`allocation ${id} already exists`);
    if (!Number.isInteger(vcpus) || vcpus <= 0) throw new RangeError("vcpus must be a positive integer");
    const s = this.summary();
    if (memoryMiB > s.memoryMiB.free || nvmeGB > s.nvmeGB.free || vcpus > s.vcpus.free) return null;
    const threads = this.chooseThreads(vcpus);
    if (!threads) return null;
    const allocation: Allocation = { id, vcpus, memoryMiB, nvmeGB, threads };
    this.place(allocation);
    return allocation;
  }

  release(id: string): Allocation | undefined {
    const a = this.allocations.get(id);
    if (!a) return undefined;
    const slot = this.slots.indexOf(id);
    for (const t of a.threads) this.owner[t] = FREE;
    this.slots[slot] = undefined;
    this.allocations.delete(id);
    this.memoryUsedMiB -= a.memoryMiB;
    this.nvmeUsedGB -= a.nvmeGB;
    return a;
  }

  summary(): CapacitySummary {
    const total = this.owner.length;
    let used = 0;
    for (let t = 0; t < total; t++) if (this.owner[t] >= 0) used++;
    const reserved = this.hw.reservedThreads;
    const memTotal = this.hw.memoryMiB;
    const memReserved = this.hw.reservedMemoryMiB;
    return {
      vcpus: { total, reserved, used, free: total - reserved - used },
      memoryMiB: {
        total: memTotal,
        reserved: memReserved,
        used: this.memoryUsedMiB,
        free: memTotal - memReserved - this.memoryUsedMiB,
      },
      nvmeGB: { total: this.hw.nvmeGB, used: this.nvmeUsedGB, free: this.hw.nvmeGB - this.nvmeUsedGB },
      vms: this.allocations.size,
    };
  }

  /** The owner of every thread, for isolation checks: null when free, "hypervisor" when reserved. */
  threadOwners(): (string | null)[] {
    return [...this.owner].map((o) => (o === FREE ? null : o === HYPERVISOR ? "hypervisor" : this.slots[o]!));
  }

  private place(a: Allocation): void {
    for (const t of a.threads) {
      if (t < 0 || t >= this.owner.length || this.owner[t] !== FREE) {
        throw new Error(`thread ${t} of allocation ${a.id} is not free`);
      }
    }
    let slot = this.slots.indexOf(undefined);
    if (slot < 0) slot = this.slots.push(undefined) - 1;
    this.slots[slot] = a.id;
    for (const t of a.threads) this.owner[t] = slot;
    this.allocations.set(a.id, a);
    this.memoryUsedMiB += a.memoryMiB;
    this.nvmeUsedGB += a.nvmeGB;
  }

  private freeCoresOf(socket: number): number[] {
    const { coresPerSocket, threadsPerCore } = this.hw;
    const cores: number[] = [];
    for (let c = 0; c < coresPerSocket; c++) {
      const base = (socket * coresPerSocket + c) * threadsPerCore;
      let free = true;
      for (let k = 0; k < threadsPerCore; k++) if (this.owner[base + k] !== FREE) free = false;
      if (free) cores.push(base);
    }
    return cores;
  }

  private chooseThreads(vcpus: number): number[] | null {
    const { sockets, threadsPerCore } = this.hw;
    const coresNeeded = Math.ceil(vcpus / threadsPerCore);
    const perSocket = Array.from({ length: sockets }, (_, s) => this.freeCoresOf(s));
    // Best fit across sockets: the fullest socket that still holds the whole VM, so that
    // large instances keep finding an empty NUMA node.
    const fitting = perSocket
      .map((cores, s) => ({ s, cores }))
      .filter((x) => x.cores.length >= coresNeeded)
      .sort((a, b) => a.cores.length - b.cores.length || a.s - b.s);
    const pool = fitting.length > 0 ? fitting[0].cores : perSocket.flat();
    if (pool.length < coresNeeded) return null;
    const threads: number[] = [];
    for (const base of pool.slice(0, coresNeeded)) {
      for (let k = 0; k < threadsPerCore && threads.length < vcpus; k++) threads.push(base + k);
    }
    return threads;
  }
}

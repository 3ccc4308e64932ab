// Private addresses of a subnet handed to network interfaces. After the Amazon VPC user guide
// ("Subnet CIDR blocks"): in every subnet the first four addresses and the last are reserved
// (network address, VPC router, DNS, future use, broadcast), so a /28 holds 11 interfaces.
import { blockSize, type Cidr } from "./ipv4";

export const RESERVED_AT_START = 4;
export const RESERVED_AT_END = 1;

/** Addresses of `subnet` an interface may hold. */
export function usableAddresses(subnet: Cidr): number {
  return Math.max(0, blockSize(subnet) - RESERVED_AT_START - RESERVED_AT_END);
}

export function isAssignable(subnet: Cidr, ip: number): boolean {
  const first = subnet.base + RESERVED_AT_START;
  const last = subnet.base + blockSize(subnet) - 1 - RESERVED_AT_END;
  return ip >= first && ip <= last;
}

/**
 * The lowest assignable address of `subnet` not in `used`, or null when the subnet is full.
 * Lowest-first (as EC2 tends to hand them out) makes the choice deterministic; two callers
 * racing for the same address are kept apart by the store's uniqueness of (subnet, address),
 * not here: the loser asks again with the winner's address in `used`, from elsewhere.
 */
export function nextFree(subnet: Cidr, used: ReadonlySet<number>, from = 0, skip = 0): number | null {
  const first = subnet.base + RESERVED_AT_START;
  const n = usableAddresses(subnet);
  // From the `from`-th usable address on, wrapping round: a caller that lost a race starts
  // elsewhere, so racing callers stop picking the same addresses. `skip`: so many addresses
  // from there on are known to be taken.
  for (let k = skip; k < n; k++) {
    const ip = first + ((from + k) % n);
    if (!used.has(ip)) return ip;
  }
  return null;
}

/**
 * A subnet's addresses in one model: what is taken, handed out one at a time, freed on
 * release. Handing out an address twice is impossible by construction and checked anyway.
 */
export class IpAllocator {
  private readonly used = new Set<number>();
  /**
   * Every usable address below the `lowest`-th is taken: the lowest free one is looked for
   * from there, so that filling a /16 one address at a time is not a scan of all the taken
   * ones each time (65,531 addresses: some two billion lookups).
   */
  private lowest = 0;

  constructor(
    readonly subnet: Cidr,
    taken: Iterable<number> = [],
  ) {
    for (const ip of taken) this.take(ip);
  }

  get free(): number {
    return usableAddresses(this.subnet) - this.used.size;
  }

  /** The lowest free address, or the first free one from the `from`-th usable address on. */
  allocate(from = 0): number | null {
    const ip = nextFree(this.subnet, this.used, from, from === 0 ? this.lowest : 0);
    if (ip === null) return null;
    this.used.add(ip);
    if (from === 0) this.lowest = ip - (this.subnet.base + RESERVED_AT_START) + 1;
    return ip;
  }

  /** Takes a given address (one the store already holds); refuses a reserved or taken one. */
  take(ip: number): void {
    if (!isAssignable(this.subnet, ip)) throw new RangeError("address is reserved or outside the subnet");
    if (this.used.has(ip)) throw new RangeError("address is already assigned");
    this.used.add(ip);
  }

  release(ip: number): boolean {
    const k = ip - (this.subnet.base + RESERVED_AT_START);
    if (k >= 0 && k < this.lowest) this.lowest = k;
    return this.used.delete(ip);
  }

  has(ip: number): boolean {
    return this.used.has(ip);
  }
}

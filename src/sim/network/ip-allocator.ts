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
export function nextFree(subnet: Cidr, used: ReadonlySet<number>, from = 0): number | null {
  const first = subnet.base + RESERVED_AT_START;
  const n = usableAddresses(subnet);
  // From the `from`-th usable address on, wrapping round: a caller that lost a race starts
  // elsewhere, so racing callers stop picking the same addresses.
  for (let k = 0; k < n; k++) {
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
   * Every usable address below the `low`-th is taken: the lowest free one is searched from
   * there, so handing out a subnet's addresses one by one costs each a step, not a scan of all
   * those taken before it.
   */
  private low = 0;

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
    const lowest = from % Math.max(1, usableAddresses(this.subnet)) === 0;
    const ip = nextFree(this.subnet, this.used, lowest ? this.low : from);
    if (ip === null) return null;
    this.used.add(ip);
    const k = ip - this.subnet.base - RESERVED_AT_START;
    if (lowest) this.low = k + 1;
    return ip;
  }

  /** Takes a given address (one the store already holds); refuses a reserved or taken one. */
  take(ip: number): void {
    if (!isAssignable(this.subnet, ip)) throw new RangeError("address is reserved or outside the subnet");
    if (this.used.has(ip)) throw new RangeError("address is already assigned");
    this.used.add(ip);
  }

  release(ip: number): boolean {
    const k = ip - this.subnet.base - RESERVED_AT_START;
    if (this.used.has(ip) && k < this.low) this.low = k;
    return this.used.delete(ip);
  }

  has(ip: number): boolean {
    return this.used.has(ip);
  }
}

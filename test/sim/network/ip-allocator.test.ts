import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IpAllocator, isAssignable, nextFree, usableAddresses } from "../../../src/sim/network/ip-allocator";
import { blockSize, formatIp, parseCidr } from "../../../src/sim/network/ipv4";

const cidr = (t: string) => parseCidr(t)!;

describe("the subnet IP allocator", () => {
  it("never hands out an address twice, nor a reserved one, under any sequence of allocations and releases", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 24, max: 28 }),
        fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 400 }),
        (prefix, ops) => {
          const subnet = { base: cidr("10.0.0.0/16").base, prefix };
          const alloc = new IpAllocator(subnet);
          // The reference: the addresses held now, as a plain set.
          const held = new Set<number>();
          for (const [allocate, pick] of ops) {
            if (allocate || held.size === 0) {
              const ip = alloc.allocate();
              if (ip === null) {
                expect(held.size).toBe(usableAddresses(subnet));
                continue;
              }
              expect(held.has(ip)).toBe(false);
              expect(isAssignable(subnet, ip)).toBe(true);
              // And it is the lowest free one, as a scan from the subnet's first address finds.
              expect(ip).toBe(nextFree(subnet, held));
              held.add(ip);
            } else {
              const ip = [...held][pick % held.size];
              expect(alloc.release(ip)).toBe(true);
              held.delete(ip);
            }
            expect(alloc.free).toBe(usableAddresses(subnet) - held.size);
          }
        },
      ),
    );
  });

  it("hands out the lowest free address whatever came before: takes, releases and starts from elsewhere", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 24, max: 28 }),
        fc.array(fc.tuple(fc.constantFrom("lowest", "from", "take", "release"), fc.nat()), {
          maxLength: 300,
        }),
        (prefix, ops) => {
          const subnet = { base: cidr("10.2.0.0/16").base, prefix };
          const n = usableAddresses(subnet);
          const alloc = new IpAllocator(subnet);
          const held = new Set<number>();
          for (const [op, pick] of ops) {
            if (op === "lowest" || op === "from") {
              const ip = op === "lowest" ? alloc.allocate() : alloc.allocate(pick);
              expect(ip).toBe(nextFree(subnet, held, op === "lowest" ? 0 : pick));
              if (ip !== null) held.add(ip);
            } else if (op === "take") {
              const ip = subnet.base + 4 + (pick % n);
              if (held.has(ip)) continue;
              alloc.take(ip);
              held.add(ip);
            } else if (held.size > 0) {
              const ip = [...held][pick % held.size];
              expect(alloc.release(ip)).toBe(true);
              held.delete(ip);
            }
          }
        },
      ),
    );
  });

  it("reserves the first four addresses and the last of every subnet, as a VPC does", () => {
    const s = cidr("172.31.16.0/20");
    expect(usableAddresses(s)).toBe(blockSize(s) - 5);
    expect(formatIp(nextFree(s, new Set())!)).toBe("172.31.16.4");
    expect(isAssignable(s, cidr("172.31.31.255/32").base)).toBe(false);
    expect(isAssignable(s, cidr("172.31.31.254/32").base)).toBe(true);
    const t = cidr("10.0.0.0/28");
    const a = new IpAllocator(t);
    const got = Array.from({ length: 12 }, () => a.allocate());
    expect(got.filter((x) => x !== null)).toHaveLength(11);
    expect(got[11]).toBeNull();
  });

  it("refuses to take an address already held, so a store's addresses load only once", () => {
    const s = cidr("10.0.1.0/24");
    const a = new IpAllocator(s, [s.base + 10]);
    expect(() => a.take(s.base + 10)).toThrow(/already/);
    expect(() => a.take(s.base + 1)).toThrow(/reserved/);
  });

  it("parses blocks strictly: host bits set or a malformed address is refused", () => {
    expect(parseCidr("10.0.0.1/16")).toBeNull();
    expect(parseCidr("10.0.0.0/33")).toBeNull();
    expect(parseCidr("10.0.256.0/24")).toBeNull();
    expect(parseCidr("010.0.0.0/8")).toBeNull();
    expect(parseCidr("10.0.0.0/16")).toEqual({ base: 10 * 2 ** 24, prefix: 16 });
  });
});

describe("the allocator's starting point", () => {
  it("finds a free address from any starting point, wrapping round, and none in a full subnet", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 24, max: 28 }),
        fc.nat(),
        fc.array(fc.nat(), { maxLength: 300 }),
        (prefix, from, picks) => {
          const subnet = { base: parseCidr("10.1.0.0/16")!.base, prefix };
          const n = usableAddresses(subnet);
          const used = new Set(picks.map((p) => subnet.base + 4 + (p % n)));
          const ip = nextFree(subnet, used, from);
          if (used.size === n) expect(ip).toBeNull();
          else {
            expect(ip).not.toBeNull();
            expect(used.has(ip!)).toBe(false);
            expect(isAssignable(subnet, ip!)).toBe(true);
          }
        },
      ),
    );
  });
});

// MAC addresses of network interfaces: locally administered unicast addresses (IEEE 802:
// the second-lowest bit of the first octet set, the lowest clear), as EC2's are (02:..., 0e:...).
export function macAddress(bytes: Uint8Array): string {
  if (bytes.length !== 6) throw new RangeError("a MAC address is 6 bytes");
  const octets = [...bytes];
  octets[0] = (octets[0] & 0xfc) | 0x02;
  return octets.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

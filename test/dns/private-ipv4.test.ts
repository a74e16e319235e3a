// privateIPv4 is the DNS loop's one-pass classifier; it must agree with isIPv4 and isPrivateAddress on every
// string it answers for, and leave everything else (undefined) to them.
import { isIPv4 } from "node:net";
import { describe, expect, it } from "vitest";
import { isPrivateAddress } from "../../functions/fleet/net.ts";
import { privateIPv4 } from "../../functions/plan/target-groups.ts";

const EDGES = [
  "10.0.0.1", "10.255.255.255", "9.255.255.255", "11.0.0.0", "172.15.255.255", "172.16.0.0", "172.31.255.255", "172.32.0.0",
  "192.168.0.1", "192.167.1.1", "192.169.1.1", "100.63.255.255", "100.64.0.0", "100.127.255.255", "100.128.0.0",
  "8.8.8.8", "0.0.0.0", "255.255.255.255", "1.2.3.4",
  // not node's IPv4 grammar
  "", ".", "1.2.3", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..2.3", "01.2.3.4", "10.00.0.1", "10.0.0.256", "10.0.0.1000", "256.0.0.1",
  "10.0.0.1 ", " 10.0.0.1", "10.0.0.a", "10.0.0.-1", "+10.0.0.1", "fc00::1", "::ffff:10.0.0.1", "2001:db8::1", "example.com", "１0.0.0.1",
];

describe("privateIPv4", () => {
  it("agrees with isIPv4 and isPrivateAddress, and answers only for IPv4", () => {
    for (const address of EDGES) {
      const fast = privateIPv4(address);
      expect([address, fast === undefined ? isIPv4(address) : true]).toEqual([address, isIPv4(address)]);
      if (fast !== undefined) expect([address, fast]).toEqual([address, isPrivateAddress(address)]);
    }
  });

  it("agrees on every first and second octet", () => {
    for (let a = 0; a < 256; a++) {
      for (let b = 0; b < 256; b++) {
        const address = `${a}.${b}.7.9`;
        if (privateIPv4(address) !== isPrivateAddress(address)) expect(address).toBe("classified alike");
      }
    }
  });
});

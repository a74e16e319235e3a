// The benchmark's world must be what it claims: every address a valid, distinct private IPv4 address at
// every size (an address like "10.256.0.1" would be skipped by the planner and silently shrink the work),
// and a check that stops the benchmark, naming the fixture and the rule, on one that is not.
import { describe, expect, it } from "vitest";
import { isIpAddress, isPrivateAddress } from "../../functions/fleet/net.ts";
import {
  ADDRESSES_PER_HOST, answeredSlots, checkedAddress, driftOf, fleetYaml, groupCount, hostAddress, hostIndex, hostName, HOSTS_PER_GROUP,
} from "../../bench/dns-fixture.ts";

describe("benchmark fixture", () => {
  it("gives 100,000 hosts valid, private, distinct addresses, the drift scenario's new one included", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      for (const slot of answeredSlots(i, "1% drift").concat(ADDRESSES_PER_HOST - 1)) {
        const address = hostAddress(i, slot);
        if (!isIpAddress(address) || !isPrivateAddress(address)) throw new Error(`host ${i} slot ${slot}: ${address}`);
        seen.add(address);
      }
    }
    // 5 per host, plus one for each gaining host (every other group's drifting host).
    expect(seen.size).toBe(100_000 * ADDRESSES_PER_HOST + Math.ceil(groupCount(100_000) / 2));
    // Host 99,999 is in group 999: "10.999.99.1" in the old layout, one address of 10.0.0.0/8 here (99,999 × 8 + 1 = 799,993).
    expect(hostAddress(99_999, 0)).toBe("10.12.52.249");
  });

  it("throws, naming the fixture and the rule, on an address that is not one, and on a host or slot out of range", () => {
    expect(() => checkedAddress("10.256.0.1", "host 25600 address 0")).toThrow(
      'bench/dns-fixture.ts: host 25600 address 0: "10.256.0.1" is not an IP address (every fixture address must be one)');
    expect(() => hostAddress(2 ** 21, 0)).toThrow(/bench\/dns-fixture.ts: host 2097152: the fixture holds hosts 0..2097151/);
    expect(() => hostAddress(0, 7)).toThrow(/address slot 7 is not in 0..6/);
  });

  it("drifts 1% of the names, one per group, half gaining and half losing an address", () => {
    const drifting = Array.from({ length: 10_000 }, (_, i) => driftOf(i, "1% drift")).filter(Boolean);
    expect(drifting).toHaveLength(100);
    expect(drifting.filter((d) => d === "gain")).toHaveLength(50);
    expect(Array.from({ length: 10_000 }, (_, i) => driftOf(i, "no change")).filter(Boolean)).toEqual([]);
  });

  it("names every host in fleet.yaml, 100 per target group, and maps each name back to its host", () => {
    const yaml = fleetYaml(250);
    expect(yaml.match(/arn: /g)).toHaveLength(3);
    expect(yaml).toContain(hostName(249));
    expect(hostIndex(hostName(12_345))).toBe(12_345);
    expect(hostIndex("db.corp.test")).toBeUndefined();
    expect(HOSTS_PER_GROUP).toBe(100);
  });
});

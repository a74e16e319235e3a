// The front listener (the local load balancer) and the local DNS server and loop.
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../containers/agent/process.ts";
import { createDnsClient } from "../../functions/dns/resolve.ts";
import { ConnectionSet, FrontListener, type FrontRoute } from "../../functions/local/front.ts";
import { LocalDnsLoop, startLocalDnsServer, type LocalDnsServer } from "../../functions/local/dns.ts";
import { parseZone } from "../../functions/local/hosts.ts";
import { MemoryConfig } from "../../functions/dns/memory.ts";
import type { ResolvedTargets } from "../../functions/render/context.ts";
import { firstLine, freePort, namedTcpServer, type Upstream } from "../support/net.ts";

const upstreams: Upstream[] = [];
let blue: Upstream;
let green: Upstream;

beforeAll(async () => {
  blue = await namedTcpServer("blue");
  green = await namedTcpServer("green");
  upstreams.push(blue, green);
});

afterAll(async () => {
  await Promise.all(upstreams.map((u) => u.close()));
});

function open(port: number): Promise<{ socket: Socket; greeting: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      const greeting = new Promise<string>((done) => socket.once("data", (chunk: Buffer) => done(chunk.toString().trim())));
      resolve({ socket, greeting });
    });
    socket.once("error", reject);
  });
}

describe("the front listener", () => {
  it("sends new connections to the active generation; open ones stay where they were opened until they end", async () => {
    const blueConnections = new ConnectionSet();
    const greenConnections = new ConnectionSet();
    let route: FrontRoute | undefined = { port: blue.port, connections: blueConnections };
    const front = await FrontListener.listen(await freePort(), () => route);
    try {
      const old = await open(front.port);
      expect(await old.greeting).toBe("blue");
      route = { port: green.port, connections: greenConnections };
      expect(await firstLine(front.port)).toBe("green");
      // The connection opened before the shift still talks to blue (the upstream echoes).
      old.socket.write("still here\n");
      const echoed = await new Promise<string>((done) => old.socket.once("data", (chunk: Buffer) => done(chunk.toString())));
      expect(echoed).toBe("still here\n");
      expect(blueConnections.size).toBe(2);
      expect(await blueConnections.drained(50)).toBe(false);
      const drained = blueConnections.drained(5_000);
      old.socket.end();
      expect(await drained).toBe(true);
      await waitFor("green's connections counted out", () => greenConnections.size === 0, 2_000);
      route = undefined;
      expect(await firstLine(front.port, 1_000)).toBe(""); // nothing active: refused
    } finally {
      await front.close();
    }
  });

  it("cuts what a drain leaves open when asked", async () => {
    const connections = new ConnectionSet();
    const front = await FrontListener.listen(await freePort(), () => ({ port: blue.port, connections }));
    try {
      const held = await open(front.port);
      await held.greeting;
      const closed = new Promise((done) => held.socket.once("close", done));
      connections.destroyAll();
      await closed;
      expect(await connections.drained(1_000)).toBe(true);
    } finally {
      await front.close();
    }
  });
});

describe("the local DNS server and loop", () => {
  let server: LocalDnsServer;

  beforeAll(async () => {
    server = await startLocalDnsServer(parseZone("a.test: { addresses: [127.0.0.9, ::1], ttl: 30 }\nb.test: [127.0.0.10]\n", "zone.yaml").zone);
  });

  afterAll(async () => {
    await server?.close();
  });

  it("answers A and AAAA with the zone's TTLs, NXDOMAIN for names it does not have, and follows zone changes", async () => {
    const client = createDnsClient({ servers: [server.address], timeoutMs: 1_000 });
    expect(await client.lookup("a.test", 4)).toEqual({ kind: "answer", addresses: ["127.0.0.9"], ttlSeconds: 30 });
    expect(await client.lookup("a.test", 6)).toEqual({ kind: "answer", addresses: ["::1"], ttlSeconds: 30 });
    expect(await client.lookup("b.test", 4)).toEqual({ kind: "answer", addresses: ["127.0.0.10"], ttlSeconds: 5 });
    expect(await client.lookup("b.test", 6)).toMatchObject({ kind: "nodata" });
    expect(await client.lookup("c.test", 4)).toEqual({ kind: "nxdomain" });
    server.setZone(parseZone("c.test: [127.0.0.11]\n", "zone.yaml").zone);
    expect(await client.lookup("c.test", 4)).toMatchObject({ kind: "answer", addresses: ["127.0.0.11"] });
  });

  it("runs the DNS loop against it: a changed answer reaches the service's runtime targets, once", async () => {
    server.setZone(parseZone("db.test: [127.0.0.2]\n", "zone.yaml").zone);
    const applied: Array<[string, ResolvedTargets]> = [];
    const fleetYaml = "version: 1\ndns: { removeAfterMisses: 1, minTtl: 1s }\nservices:\n  router:\n    kind: haproxy\n"
      + "    listeners: [{ name: db, port: 5432, backends: [{ host: db.test, port: 5432 }] }]\n";
    const loop = new LocalDnsLoop({
      config: new MemoryConfig({ commit: "c1", files: { "fleet.yaml": fleetYaml } }),
      resolver: server.address,
      apply: async (service, targets) => void applied.push([service, targets]),
    });
    await loop.request({ scope: "due" });
    expect(applied).toEqual([["router", { "db.test": ["127.0.0.2"] }]]);
    await loop.request({ scope: "names", names: ["db.test"] });
    expect(applied).toHaveLength(1); // the same answer writes nothing
    server.setZone(parseZone("db.test: [127.0.0.3]\n", "zone.yaml").zone);
    await Promise.all([loop.request({ scope: "names", names: ["db.test"] }), loop.request({ scope: "names", names: ["db.test"] })]);
    expect(applied).toEqual([["router", { "db.test": ["127.0.0.2"] }], ["router", { "db.test": ["127.0.0.3"] }]]);
    expect(loop.documents.targets("router")).toEqual({ "db.test": ["127.0.0.3"] });
  });
});

// Throwaway network namespaces: the data planes' firewall and IPsec checks run in one, so nothing
// touches the host's own rules or sends a packet off the machine.
import { run } from "./process.ts";

let counter = 0;

async function ip(args: string[]): Promise<void> {
  const r = await run("ip", args);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

export class NetworkNamespace {
  readonly name: string;
  private constructor(name: string) {
    this.name = name;
  }

  /** Creates a namespace with its loopback up. */
  static async create(label = "pf"): Promise<NetworkNamespace> {
    const name = `${label}-${process.pid}-${++counter}`;
    await ip(["netns", "add", name]);
    const ns = new NetworkNamespace(name);
    await ns.ip(["link", "set", "lo", "up"]);
    return ns;
  }

  async ip(args: string[]): Promise<void> {
    await ip(["-n", this.name, ...args]);
  }

  async destroy(): Promise<void> {
    await run("ip", ["netns", "del", this.name]);
  }
}

/** Connects two namespaces with a veth pair and gives each end an address (CIDR form); returns the ends' names. */
export async function link(a: NetworkNamespace, aAddress: string, b: NetworkNamespace, bAddress: string): Promise<{ a: string; b: string }> {
  const suffix = `${process.pid % 10000}${++counter}`;
  const aName = `va${suffix}`;
  const bName = `vb${suffix}`;
  await ip(["link", "add", aName, "netns", a.name, "type", "veth", "peer", "name", bName, "netns", b.name]);
  await a.ip(["addr", "add", aAddress, "dev", aName]);
  await b.ip(["addr", "add", bAddress, "dev", bName]);
  await a.ip(["link", "set", aName, "up"]);
  await b.ip(["link", "set", bName, "up"]);
  return { a: aName, b: bName };
}

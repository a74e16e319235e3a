// A DNS server on loopback whose answers the test changes as it goes (UDP and TCP on one port).
import type { Socket } from "node:net";
import dns2 from "dns2";
import { freePort } from "./net.ts";

export type Answer =
  | { readonly addresses: readonly string[]; readonly ttl?: number; readonly truncateOverUdp?: boolean; readonly tcpNeverAnswers?: boolean }
  | "nxdomain" | "servfail" | "refused" | "empty" | "timeout";

export interface TestDnsServer {
  readonly port: number;
  readonly address: string;
  set(name: string, answer: Answer): void;
  /** Queries seen per transport, for truncation tests. */
  readonly queries: { udp: number; tcp: number };
  close(): Promise<void>;
}

const { Packet } = dns2;
const RCODE = { SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

interface Question { name: string; type: number }
interface Request { questions: Question[] }
interface Response { header: { rcode: number; tc: number }; answers: object[] }

export async function startDnsServer(): Promise<TestDnsServer> {
  const zone = new Map<string, Answer>();
  const queries = { udp: 0, tcp: 0 };
  const server = dns2.createServer({
    udp: true,
    tcp: true,
    handle: ((request: Request, send: (response: Response) => void, client: unknown) => {
      const overTcp = typeof (client as Socket).write === "function";
      if (overTcp) queries.tcp++;
      else queries.udp++;
      const response = Packet.createResponseFromRequest(request as never) as unknown as Response;
      const [question] = request.questions;
      const answer = zone.get(question!.name.toLowerCase()) ?? "nxdomain";
      if (answer === "timeout") return; // never answer
      if (overTcp && typeof answer === "object" && answer.tcpNeverAnswers) return;
      if (answer === "nxdomain") response.header.rcode = RCODE.NXDOMAIN;
      else if (answer === "servfail") response.header.rcode = RCODE.SERVFAIL;
      else if (answer === "refused") response.header.rcode = RCODE.REFUSED;
      else if (answer !== "empty") {
        if (answer.truncateOverUdp && !overTcp) {
          response.header.tc = 1;
        } else {
          const family = question!.type === Packet.TYPE.AAAA ? 6 : 4;
          for (const address of answer.addresses) {
            if (address.includes(":") !== (family === 6)) continue;
            response.answers.push({
              name: question!.name,
              type: family === 6 ? Packet.TYPE.AAAA : Packet.TYPE.A,
              class: Packet.CLASS.IN,
              ttl: answer.ttl ?? 60,
              address,
            });
          }
        }
      }
      send(response);
    }) as never,
  });
  // UDP and TCP on the same port, so a truncated UDP answer falls back to TCP as resolvers do.
  const port = await freePort();
  await server.listen({ udp: { port, address: "127.0.0.1" }, tcp: { port, address: "127.0.0.1" } });
  return {
    port,
    address: `127.0.0.1:${port}`,
    set: (name, answer) => zone.set(name.toLowerCase(), answer),
    queries,
    close: () => server.close(),
  };
}

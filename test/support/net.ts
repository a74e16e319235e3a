// Loopback peers for traffic tests: upstream servers that say who they are, clients, a PROXY v2 header.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function waitForPort(port: number, timeoutMs = 10_000, host = "127.0.0.1"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface Upstream {
  readonly port: number;
  close(): Promise<void>;
}

async function listen(server: Server, host = "127.0.0.1", port = 0): Promise<Upstream> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A TCP server that greets every connection with its name, then echoes what it receives. */
export function namedTcpServer(name: string, host = "127.0.0.1", port = 0): Promise<Upstream> {
  return listen(
    createServer((socket) => {
      socket.on("error", () => undefined);
      socket.write(`${name}\n`);
      socket.pipe(socket);
    }),
    host,
    port,
  );
}

/** Connects, sends `message`, half-closes after `lingerMs`, and returns everything received ("" if refused or reset). */
export async function exchange(port: number, message = "", options: { proxyHeader?: Buffer; localAddress?: string; lingerMs?: number } = {}): Promise<string> {
  let socket: Socket;
  try {
    socket = await tcpConnect(port, options.proxyHeader, options.localAddress);
  } catch {
    return "";
  }
  if (message) socket.write(message);
  setTimeout(() => socket.end(), options.lingerMs ?? 150);
  return readAll(socket);
}

let certificate: { key: Buffer; cert: Buffer } | undefined;

/** A self-signed certificate made once per run with the openssl command. */
export function testCertificate(): { key: Buffer; cert: Buffer } {
  if (!certificate) {
    const dir = mkdtempSync(join(tmpdir(), "pf-cert-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=proxy-fleet test",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    certificate = { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
  }
  return certificate;
}

/** A TLS server that answers every handshake with its own name: which upstream the SNI reached. */
export function namedTlsServer(name: string): Promise<Upstream> {
  const server = tls.createServer(testCertificate(), (socket) => {
    socket.on("error", () => undefined);
    socket.end(`${name} sni=${(socket as tls.TLSSocket & { servername?: string }).servername ?? ""}\n`);
  });
  return listen(server);
}

/** An HTTP/1.1 server that answers with its name and the Host header it saw. */
export function namedHttpServer(name: string, host = "127.0.0.1", port = 0): Promise<Upstream> {
  return listen(
    createServer((socket) => {
      socket.on("error", () => undefined);
      let request = "";
      socket.on("data", (chunk: Buffer) => {
        request += chunk.toString();
        if (!request.includes("\r\n\r\n")) return;
        const host = /^host:\s*(.*)$/im.exec(request)?.[1]?.trim() ?? "";
        const body = `${name} host=${host}\n`;
        socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      });
    }),
    host,
    port,
  );
}

/** An HTTP/1.1 server that answers with the client-address headers it received, one "name: value" per line. */
export function forwardedHeadersServer(host = "127.0.0.1", port = 0): Promise<Upstream> {
  return listen(
    createServer((socket) => {
      socket.on("error", () => undefined);
      let request = "";
      socket.on("data", (chunk: Buffer) => {
        request += chunk.toString();
        if (!request.includes("\r\n\r\n")) return;
        const wanted = /^(x-forwarded-for|x-real-ip|forwarded):/i;
        const body = request.split("\r\n").filter((line) => wanted.test(line)).map((line) => line.toLowerCase()).sort().join("\n") + "\n";
        socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      });
    }),
    host,
    port,
  );
}

/** PROXY protocol v2 header for a TCP connection (IPv4, or IPv6 when the source is), as an NLB sends it, with optional TLVs. */
export function proxyV2Header(source: string, sourcePort: number, destination: string, destinationPort: number, tlvs: Buffer = Buffer.alloc(0)): Buffer {
  const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const v6 = source.includes(":");
  const addressBytes = v6 ? 36 : 12;
  const header = Buffer.alloc(16 + addressBytes);
  signature.copy(header, 0);
  header[12] = 0x21; // version 2, PROXY command
  header[13] = v6 ? 0x21 : 0x11; // TCP over IPv6 / IPv4
  header.writeUInt16BE(addressBytes + tlvs.length, 14);
  const size = v6 ? 16 : 4;
  addressToBytes(source, v6).copy(header, 16);
  addressToBytes(destination, v6).copy(header, 16 + size);
  header.writeUInt16BE(sourcePort, 16 + 2 * size);
  header.writeUInt16BE(destinationPort, 18 + 2 * size);
  return Buffer.concat([header, tlvs]);
}

function addressToBytes(address: string, v6: boolean): Buffer {
  if (!v6) return Buffer.from(address.split(".").map(Number));
  const [head, tail = ""] = address.split("::") as [string, string?];
  const headGroups = head ? head.split(":") : [];
  const tailGroups = address.includes("::") && tail ? tail.split(":") : [];
  const groups = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

/**
 * The TLV a PrivateLink NLB adds: type 0xEA (PP2_TYPE_AWS), its value a subtype byte 0x01
 * (PP2_SUBTYPE_AWS_VPCE_ID) followed by the consumer's VPC endpoint id in US-ASCII.
 */
export function awsVpceTlv(endpointId: string): Buffer {
  const value = Buffer.concat([Buffer.from([0x01]), Buffer.from(endpointId, "ascii")]);
  const tlv = Buffer.alloc(3);
  tlv[0] = 0xea;
  tlv.writeUInt16BE(value.length, 1);
  return Buffer.concat([tlv, value]);
}

/** Opens a TCP connection, optionally sends a PROXY v2 header, and resolves with the connected socket. */
export function tcpConnect(port: number, proxyHeader?: Buffer, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) }, () => {
      if (proxyHeader) socket.write(proxyHeader);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** Reads from the socket until it closes or `timeoutMs` passes; returns what arrived. */
export function readAll(socket: Socket | tls.TLSSocket, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data);
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on("data", (chunk: Buffer) => (data += chunk.toString()));
    socket.on("end", done);
    socket.on("close", done);
    socket.on("error", done);
  });
}

/** A TLS handshake with SNI through the proxy; resolves with what the upstream said, or "" if refused. */
export async function tlsThrough(port: number, servername: string, proxyHeader?: Buffer, localAddress?: string): Promise<string> {
  let raw: Socket;
  try {
    raw = await tcpConnect(port, proxyHeader, localAddress);
  } catch {
    return "";
  }
  const socket = tls.connect({ socket: raw, servername, rejectUnauthorized: false });
  socket.on("error", () => undefined);
  return readAll(socket);
}

/** Connects and resolves with the first line the server sends, or "" if refused, reset or silent. */
export function firstLine(port: number, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    const socket = connect({ host: "127.0.0.1", port });
    const done = (value: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(""), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString();
      if (data.includes("\n")) done(data.split("\n")[0]!);
    });
    socket.on("error", () => done(""));
    socket.on("close", () => done(""));
  });
}

/**
 * A bounded load loop: `workers` clients call `request` back to back until `stop()` is called, at most
 * `maxRequests` in all and never past `maxMs`. Returns how many succeeded and failed, and what was seen.
 */
export function loadLoop(request: () => Promise<string>, options: { workers: number; maxRequests: number; maxMs: number }) {
  const seen = new Map<string, number>();
  let ok = 0;
  let failed = 0;
  let stopped = false;
  const deadline = Date.now() + options.maxMs;
  const worker = async () => {
    while (!stopped && ok + failed < options.maxRequests && Date.now() < deadline) {
      const answer = await request();
      if (answer) {
        ok++;
        seen.set(answer, (seen.get(answer) ?? 0) + 1);
      } else {
        failed++;
      }
    }
  };
  const running = Promise.all(Array.from({ length: options.workers }, worker));
  return {
    async stop() {
      stopped = true;
      await running;
      return { ok, failed, seen: Object.fromEntries(seen) };
    },
  };
}

// What a proxy task talks to, standing in on loopback inside a test's network namespace
// (ip netns exec … node stand-in.ts …):
//   serve <dataDir> <awsPort> [backend…]   an S3-compatible endpoint (path-style GET with If-None-Match / 304,
//                                          NoSuchKey) and SSM GetParameter, both answered from <dataDir>; and
//                                          backends "tcp:<address>:<port>:<name>" (greets "<name>", then echoes
//                                          lines) or "http:<address>:<port>:<name>" (GET / answers "<name>",
//                                          GET /slow answers after 2 s) or "hang:<address>:<port>:<name>"
//                                          (accepts, prints "<name> accepted", never answers: a hung endpoint).
//                                          Prints "ready" once all listen.
//   hold <host> <port> <ms> [connect <target>]
//                                          connects (through an HTTP proxy with CONNECT <target> if given),
//                                          prints the greeting, waits <ms>, sends "ping" and prints whether the
//                                          echo came back: the open connection a stop must drain.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer } from "node:net";
import { join } from "node:path";

const [command, ...args] = process.argv.slice(2);

function serve(dataDir: string, awsPort: number, backends: string[]): void {
  let listening = 0;
  const ready = () => {
    if (++listening === backends.length + 1) process.stdout.write("ready\n");
  };
  createHttpServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      const target = String(request.headers["x-amz-target"] ?? "");
      if (request.method === "POST" && target === "AmazonSSM.GetParameter") {
        const name = (JSON.parse(body) as { Name: string }).Name;
        const file = join(dataDir, "ssm", encodeURIComponent(name));
        if (!existsSync(file)) {
          response.writeHead(400, { "content-type": "application/x-amz-json-1.1" })
            .end(JSON.stringify({ __type: "ParameterNotFound", message: `parameter ${name} not found` }));
          return;
        }
        response.writeHead(200, { "content-type": "application/x-amz-json-1.1" })
          .end(JSON.stringify({ Parameter: { Name: name, Type: "SecureString", Value: readFileSync(file, "utf8") } }));
        return;
      }
      // Path-style S3: /<bucket>/<key>
      const path = decodeURIComponent(new URL(request.url ?? "/", "http://stand-in").pathname);
      const file = join(dataDir, "s3", path);
      if (request.method !== "GET" || path.includes("..") || !existsSync(file)) {
        response.writeHead(404, { "content-type": "application/xml" })
          .end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>${path}</Key></Error>`);
        return;
      }
      const content = readFileSync(file);
      const etag = `"${createHash("md5").update(content).digest("hex")}"`;
      if (request.headers["if-none-match"] === etag) {
        response.writeHead(304, { etag }).end();
        return;
      }
      response.writeHead(200, { etag, "content-type": "application/json", "content-length": content.length }).end(content);
    });
  }).listen(awsPort, "127.0.0.1", ready);

  for (const spec of backends) {
    const [type, address, port, name] = spec.split(":");
    if (type === "hang") {
      const held: unknown[] = [];
      createServer((socket) => {
        held.push(socket);
        process.stdout.write(`${name} accepted\n`);
      }).listen(Number(port), address, ready);
    } else if (type === "tcp") {
      createServer((socket) => {
        socket.on("error", () => undefined);
        socket.write(`${name}\n`);
        socket.on("data", (chunk: Buffer) => socket.write(chunk));
      }).listen(Number(port), address, ready);
    } else {
      createHttpServer((request, response) => {
        const answer = () => response.writeHead(200, { "content-type": "text/plain" }).end(`${name}\n`);
        if (request.url === "/slow") setTimeout(answer, 2_000);
        else answer();
      }).listen(Number(port), address, ready);
    }
  }
}

function hold(host: string, port: number, ms: number, via?: string): void {
  const socket = connect({ host, port });
  let phase: "proxy" | "greeting" | "echo" = via ? "proxy" : "greeting";
  let buffer = "";
  const result: Record<string, unknown> = {};
  const finish = () => {
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(0);
  };
  socket.setTimeout(ms + 10_000, finish);
  socket.on("error", (error) => {
    result.error = error.message;
    finish();
  });
  socket.on("close", finish);
  socket.on("connect", () => {
    if (via) socket.write(`CONNECT ${via} HTTP/1.1\r\nHost: ${via}\r\n\r\n`);
  });
  socket.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    if (phase === "proxy" && buffer.includes("\r\n\r\n")) {
      result.proxy = buffer.split("\r\n")[0];
      buffer = buffer.slice(buffer.indexOf("\r\n\r\n") + 4);
      phase = "greeting";
    }
    if (phase === "greeting" && buffer.includes("\n")) {
      result.greeting = buffer.split("\n")[0];
      buffer = "";
      phase = "echo";
      process.stdout.write("connected\n");
      setTimeout(() => socket.write("ping\n"), ms);
      return;
    }
    if (phase === "echo" && buffer.includes("ping\n")) {
      result.echo = true;
      socket.end();
    }
  });
}

if (command === "serve") serve(args[0]!, Number(args[1]), args.slice(2));
else if (command === "hold") hold(args[0]!, Number(args[1]), Number(args[2]), args[3] === "connect" ? args[4] : undefined);
else {
  process.stderr.write("usage: stand-in.ts serve <dataDir> <awsPort> [backend…] | hold <host> <port> <ms> [connect <target>]\n");
  process.exit(2);
}

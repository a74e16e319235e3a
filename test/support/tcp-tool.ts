// A tiny TCP server and client to run inside a test's network namespaces (ip netns exec … node tcp-tool.ts):
//   serve <address> <port> <name>           greet each connection with "<name> from <peer address>"
//   probe <address> <port> [localAddress]   print the first line the server sends ("" on failure)
import { connect, createServer } from "node:net";

const [command, address, port, third] = process.argv.slice(2);
if (command === "serve") {
  createServer((socket) => {
    socket.on("error", () => undefined);
    socket.end(`${third} from ${socket.remoteAddress}\n`);
  }).listen(Number(port), address, () => process.stdout.write("listening\n"));
} else if (command === "probe") {
  const socket = connect({ host: address, port: Number(port), ...(third ? { localAddress: third } : {}) });
  let data = "";
  const finish = () => {
    process.stdout.write(data.split("\n")[0] + "\n");
    process.exit(0);
  };
  socket.setTimeout(3_000, finish);
  socket.on("data", (chunk: Buffer) => (data += chunk.toString()));
  socket.on("end", finish);
  socket.on("error", finish);
} else {
  process.stderr.write("usage: tcp-tool.ts serve <address> <port> <name> | probe <address> <port> [localAddress]\n");
  process.exit(2);
}

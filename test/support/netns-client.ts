// A one-shot TCP client to run inside a test's network namespace (ip netns exec … node netns-client.ts):
//   <address> <port> <hex bytes to send> [localAddress]
// sends the bytes (a PROXY header and a request, say), half-closes after a moment and prints everything the
// server answered as one JSON string ("" when refused or reset). Bounded: it gives up after 5 s.
import { connect } from "node:net";

const [address, port, hex, localAddress] = process.argv.slice(2);
if (!address || !port || hex === undefined) {
  process.stderr.write("usage: netns-client.ts <address> <port> <hex bytes> [localAddress]\n");
  process.exit(2);
}
let data = "";
const finish = () => {
  process.stdout.write(JSON.stringify(data) + "\n");
  process.exit(0);
};
const socket = connect({ host: address, port: Number(port), ...(localAddress ? { localAddress } : {}) }, () => {
  socket.write(Buffer.from(hex, "hex"));
  setTimeout(() => socket.end(), 500);
});
setTimeout(finish, 5_000);
socket.on("data", (chunk: Buffer) => (data += chunk.toString()));
socket.on("close", finish);
socket.on("error", finish);

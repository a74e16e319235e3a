// A handler that uses node:http both ways the bundled SDK and tracer do (a default import and named imports), built
// by test/rollout/bundle.test.ts with the loops' bundling: it serves on loopback and asks itself once.
import http, { request, type IncomingMessage } from "node:http";

export async function handler(): Promise<{ status: number; body: string; undiciLoaded: boolean }> {
  const server = http.createServer((_req, res) => res.end("pong"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  try {
    const response = await new Promise<IncomingMessage>((resolve, reject) => request({ host: "127.0.0.1", port, path: "/" }, resolve).on("error", reject).end());
    let body = "";
    for await (const chunk of response) body += String(chunk);
    // Node's own list of the builtins loaded so far (undocumented, read only as a fact of this process).
    const loaded = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
    return { status: response.statusCode ?? 0, body, undiciLoaded: loaded.some((m) => m.includes("undici")) };
  } finally {
    server.close();
  }
}

// The agent's health check for ECS and the NLB: 200 while the daemon runs, 503 otherwise.
import { createServer, type Server } from "node:http";

export function startHealthServer(port: number, health: () => { ok: boolean } & Record<string, unknown>, host = "0.0.0.0"): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url !== "/healthz") {
      response.writeHead(404).end();
      return;
    }
    const state = health();
    response.writeHead(state.ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(state));
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

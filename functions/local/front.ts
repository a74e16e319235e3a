// The local stand-in for the load balancer: one TCP listener per service port on 127.0.0.1 that sends each new
// connection to the port of the generation active at that moment. A connection stays with the generation it
// was opened on until it ends, so shifting to a new generation never cuts one.
import { connect, createServer, type Server, type Socket } from "node:net";

/** Where new connections go now, and who counts the connection while it lasts. */
export interface FrontRoute {
  readonly port: number;
  readonly connections: ConnectionSet;
}

/** The open connections of one generation: what its drain waits for. */
export class ConnectionSet {
  private readonly open = new Set<Socket>();
  private waiters: Array<() => void> = [];

  get size(): number {
    return this.open.size;
  }

  add(socket: Socket): void {
    this.open.add(socket);
  }

  delete(socket: Socket): void {
    if (this.open.delete(socket) && this.open.size === 0) {
      for (const wake of this.waiters.splice(0)) wake();
    }
  }

  /** Resolves true once no connection is open, false when `timeoutMs` passes first. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.open.size === 0) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
    });
  }

  /** Cuts whatever is still open (after a drain ran out of time). */
  destroyAll(): void {
    for (const socket of [...this.open]) socket.destroy();
  }
}

export class FrontListener {
  readonly port: number;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(port: number, server: Server) {
    this.port = port;
    this.server = server;
  }

  /** Listens on 127.0.0.1:`port`; `route` is asked once per new connection (undefined: refuse it). */
  static async listen(port: number, route: () => FrontRoute | undefined): Promise<FrontListener> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const front = new FrontListener(port, server);
    server.on("connection", (client) => front.forward(client, route()));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    return front;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private forward(client: Socket, route: FrontRoute | undefined): void {
    if (!route) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: "127.0.0.1", port: route.port, allowHalfOpen: true });
    const pair = [client, upstream];
    for (const socket of pair) {
      this.sockets.add(socket);
      route.connections.add(socket);
      socket.on("error", () => undefined);
      // One side gone entirely: the other goes too, so the pair ends together and is counted out once.
      socket.once("close", () => {
        this.sockets.delete(socket);
        route.connections.delete(socket);
        for (const other of pair) if (other !== socket) other.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }
}

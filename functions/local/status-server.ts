// The local fleet's status page over HTTP: the page itself, the board as JSON, a live event stream (server-sent
// events) and the drill actions. Node's http module only, bound to 127.0.0.1: it is for the person at this machine.
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import type { LocalStatus, StatusBoard } from "./status.ts";

export interface StatusServerOptions {
  /** 0 (the default) takes any free port; the URL returned says which. */
  port?: number;
  /** Where to write the URL, so `fleet status` finds the running fleet; removed on close. */
  endpointFile?: string;
  actions?: { loseInstance?(service: string): Promise<unknown> };
}

export interface StatusServer {
  readonly url: string;
  close(): Promise<void>;
}

/** At most one `status` event per stream in this many ms: a burst of board changes becomes its last snapshot. */
export const STREAM_INTERVAL_MS = 100;
/** A comment line this often keeps idle streams open through anything that times out silent connections. */
export const HEARTBEAT_MS = 15_000;
const MAX_ACTION_BODY_BYTES = 4096;
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const PAGE_DIR = join(import.meta.dirname, "page");
const PAGE_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/status.js": { file: "status.js", type: "text/javascript; charset=utf-8" },
  "/status.css": { file: "status.css", type: "text/css; charset=utf-8" },
};

const SECURITY_HEADERS = {
  // Everything the page needs comes from this server; nothing inline, nothing external, never framed.
  "content-security-policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
} as const;

export async function startStatusServer(board: StatusBoard, options: StatusServerOptions = {}): Promise<StatusServer> {
  const page = Object.fromEntries(
    await Promise.all(Object.entries(PAGE_FILES).map(async ([path, f]) => [path, { type: f.type, body: await readFile(join(PAGE_DIR, f.file)) }] as const)),
  );
  let port = 0;

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
      else response.destroy();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // DNS rebinding: a page on another origin whose name now points here would send its own name as Host.
    if (!isLocalHost(request.headers.host, port)) return sendJson(response, 403, { error: `refused: Host must be 127.0.0.1:${port} or localhost:${port}` });
    const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
    const asset = page[path];
    if (asset) {
      if (request.method !== "GET" && request.method !== "HEAD") return sendJson(response, 405, { error: `${path} takes GET` });
      response.writeHead(200, { ...SECURITY_HEADERS, "content-type": asset.type, "content-length": asset.body.length });
      response.end(request.method === "HEAD" ? undefined : asset.body);
      return;
    }
    switch (path) {
      case "/favicon.ico":
        // No icon: answered, so the browser logs no missing-resource error.
        response.writeHead(204, SECURITY_HEADERS);
        response.end();
        return;
      case "/api/status":
        if (request.method !== "GET") return sendJson(response, 405, { error: "/api/status takes GET" });
        return sendJson(response, 200, board.snapshot());
      case "/api/events":
        if (request.method !== "GET") return sendJson(response, 405, { error: "/api/events takes GET" });
        return openStream(response);
      case "/api/actions/lose-instance":
        if (request.method !== "POST") return sendJson(response, 405, { error: "lose-instance takes POST" });
        return loseInstance(request, response);
      default:
        return sendJson(response, 404, { error: `no such page: ${path}` });
    }
  }

  // One board listener for all open streams, held only while a stream is open; one JSON text per change for all.
  const streams = new Set<ServerResponse>();
  let lastSent = 0;
  let pending: NodeJS.Timeout | undefined;
  const statusEvent = (status: LocalStatus) => `event: status\ndata: ${JSON.stringify(status)}\n\n`;
  const onChange = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      lastSent = Date.now();
      const text = statusEvent(board.snapshot());
      for (const stream of streams) stream.write(text);
    }, Math.max(0, lastSent + STREAM_INTERVAL_MS - Date.now()));
  };
  const heartbeat = () => {
    for (const stream of streams) stream.write(": heartbeat\n\n");
  };
  let heartbeats: NodeJS.Timeout | undefined;

  function openStream(response: ServerResponse): void {
    response.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
    // The browser retries after this many ms when the stream drops.
    response.write("retry: 2000\n\n");
    response.write(statusEvent(board.snapshot()));
    if (streams.size === 0) {
      board.on("change", onChange);
      heartbeats = setInterval(heartbeat, HEARTBEAT_MS);
    }
    streams.add(response);
    response.on("close", () => closeStream(response));
  }

  function closeStream(response: ServerResponse): void {
    if (!streams.delete(response)) return;
    response.end();
    if (streams.size > 0) return;
    board.off("change", onChange);
    clearTimeout(pending);
    pending = undefined;
    clearInterval(heartbeats);
  }

  async function loseInstance(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const action = options.actions?.loseInstance;
    if (!action) return sendJson(response, 404, { error: "this fleet offers no lose-instance drill" });
    // A cross-site form can only send form or text types; JSON needs a CORS preflight this server never grants.
    const type = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") return sendJson(response, 415, { error: "send the request as Content-Type: application/json" });
    const origin = request.headers.origin;
    if (origin !== undefined && !isLocalOrigin(origin, port)) return sendJson(response, 403, { error: `refused: Origin ${origin} is not this page` });
    const body = await readBody(request, MAX_ACTION_BODY_BYTES);
    if (body === undefined) return sendJson(response, 413, { error: `the body is larger than ${MAX_ACTION_BODY_BYTES} bytes` });
    const service = parseServiceRequest(body);
    if (typeof service !== "string" || !SERVICE_NAME.test(service)) {
      return sendJson(response, 400, { error: 'expected a JSON body { "service": "<service name>" }' });
    }
    try {
      const result = await action(service);
      sendJson(response, 200, { ok: true, service, ...(result === undefined ? {} : { result }) });
    } catch (error) {
      sendJson(response, 409, { ok: false, service, error: error instanceof Error ? error.message : String(error) });
    }
  }

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once("error", rejectListen);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", rejectListen);
      resolveListen();
    });
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/`;
  if (options.endpointFile) await writeEndpoint(options.endpointFile, url);

  return {
    url,
    async close() {
      for (const stream of [...streams]) closeStream(stream);
      const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      server.closeAllConnections();
      await closed;
      if (options.endpointFile) await removeEndpoint(options.endpointFile, url);
    },
  };
}

function isLocalHost(host: string | undefined, port: number): boolean {
  return host === `127.0.0.1:${port}` || host?.toLowerCase() === `localhost:${port}`;
}

function isLocalOrigin(origin: string, port: number): boolean {
  return origin === `http://127.0.0.1:${port}` || origin.toLowerCase() === `http://localhost:${port}`;
}

function parseServiceRequest(body: string): unknown {
  try {
    const parsed = JSON.parse(body) as unknown;
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as { service?: unknown }).service : undefined;
  } catch {
    return undefined;
  }
}

/** The body as text, or undefined once it passes `limit` bytes (the rest is not read). */
async function readBody(request: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  response.end(text);
}

/** Written whole (temp file, then rename), so a reader never sees half a URL. */
async function writeEndpoint(file: string, url: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const staging = `${file}.${process.pid}.tmp`;
  await writeFile(staging, url + "\n");
  await rename(staging, file);
}

/** Removes the file only while it still names this server: a fleet started since owns it now. */
async function removeEndpoint(file: string, url: string): Promise<void> {
  const current = await readFile(file, "utf8").catch(() => undefined);
  if (current?.trim() === url) await rm(file, { force: true });
}

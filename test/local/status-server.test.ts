// The status page's HTTP server: routes, the live event stream, the drill action and its guards.
import { readFile, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HEARTBEAT_MS, startStatusServer, type StatusServer } from "../../functions/local/status-server.ts";
import { StatusBoard, type LocalStatus } from "../../functions/local/status.ts";
import { tempDir } from "../support/tmp.ts";

let open: StatusServer[] = [];
afterEach(async () => {
  await Promise.all(open.map((s) => s.close()));
  open = [];
  vi.useRealTimers();
});

async function serve(board = new StatusBoard(), options: Parameters<typeof startStatusServer>[1] = {}): Promise<{ board: StatusBoard; server: StatusServer; port: number }> {
  const server = await startStatusServer(board, options);
  open.push(server);
  return { board, server, port: Number(new URL(server.url).port) };
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with headers exactly as given (fetch would not let a test choose Host). */
function raw(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolveResponse, rejectResponse) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers, timeout: 5_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolveResponse({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${path} within 5 s`)));
    req.on("error", rejectResponse);
    req.end(options.body);
  });
}

const json = (port: number) => ({ host: `127.0.0.1:${port}`, "content-type": "application/json" });

interface StreamMessage {
  event?: string;
  data?: string;
  comment?: string;
}

/** A server-sent-events client over fetch: each `next()` is the next message (event or comment), or fails after 5 s. */
async function subscribe(url: string) {
  const abort = new AbortController();
  const response = await fetch(new URL("/api/events", url), { signal: abort.signal });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const queued: StreamMessage[] = [];
  let ended = false;
  async function next(): Promise<StreamMessage | undefined> {
    const deadline = Date.now() + 5_000;
    while (queued.length === 0 && !ended) {
      if (Date.now() > deadline) throw new Error("no server-sent event within 5 s");
      const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now())).unref());
      const read = await Promise.race([reader.read(), timeout]);
      if (read === "timeout") continue;
      if (read.done) {
        ended = true;
        break;
      }
      buffer += read.value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const message: StreamMessage = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) message.comment = line.slice(1).trim();
          else if (line.startsWith("event: ")) message.event = line.slice(7);
          else if (line.startsWith("data: ")) message.data = line.slice(6);
        }
        if (message.event || message.comment !== undefined) queued.push(message);
      }
    }
    return queued.shift();
  }
  async function nextStatus(): Promise<LocalStatus> {
    for (;;) {
      const message = await next();
      if (!message) throw new Error("the stream ended");
      if (message.event === "status") return JSON.parse(message.data!) as LocalStatus;
    }
  }
  return { response, next, nextStatus, close: () => abort.abort() };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!condition()) throw new Error(`${what} did not happen within 2 s`);
}

describe("the status server's pages and snapshot", () => {
  it("listens on 127.0.0.1 only, on a free port by default", async () => {
    const { server } = await serve();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(Number(new URL(server.url).port)).toBeGreaterThan(0);
  });

  it("serves the page, its script and stylesheet with a self-only content security policy", async () => {
    const { port } = await serve();
    const host = { host: `127.0.0.1:${port}` };
    const page = await raw(port, "/", { headers: host });
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["content-security-policy"]).toMatch(/^default-src 'self';/);
    // frame-ancestors does not fall back to default-src (https://www.w3.org/TR/CSP3/#directive-frame-ancestors).
    expect(page.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(page.body).toContain('<script type="module" src="/status.js"></script>');
    const script = await raw(port, "/status.js", { headers: host });
    expect([script.status, script.headers["content-type"]]).toEqual([200, "text/javascript; charset=utf-8"]);
    expect(script.body).toContain('new EventSource("/api/events")');
    expect((await raw(port, "/status.css", { headers: host })).headers["content-type"]).toBe("text/css; charset=utf-8");
    expect((await raw(port, "/../status.ts", { headers: host })).status).toBe(404);
    expect((await raw(port, "/nope", { headers: host })).status).toBe(404);
  });

  it("GET /api/status is the board's snapshot as JSON; other methods are refused", async () => {
    const board = new StatusBoard(1_700_000_000_000);
    board.setTargets([{ name: "db.corp.test", addresses: ["10.1.0.5"], source: "dns", ttlSeconds: 30 }]);
    const { server, port } = await serve(board);
    const response = await fetch(new URL("/api/status", server.url));
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await response.json()).toEqual(board.snapshot());
    expect((await raw(port, "/api/status", { method: "POST", headers: json(port), body: "{}" })).status).toBe(405);
  });

  it("answers localhost:<port> too, and refuses any other Host (DNS rebinding) on every route", async () => {
    const { port } = await serve();
    expect((await raw(port, "/api/status", { headers: { host: `localhost:${port}` } })).status).toBe(200);
    for (const host of [`evil.example:${port}`, "127.0.0.1", `127.0.0.1:${port + 1}`, `localhost.evil.example:${port}`]) {
      for (const path of ["/", "/api/status", "/api/events"]) {
        const response = await raw(port, path, { headers: { host } });
        expect(response.status, `${host} ${path}`).toBe(403);
        expect(JSON.parse(response.body)).toEqual({ error: `refused: Host must be 127.0.0.1:${port} or localhost:${port}` });
      }
    }
  });
});

describe("the live event stream", () => {
  it("sends the snapshot on connect, then a status event after each board change", async () => {
    const { board, server } = await serve();
    const stream = await subscribe(server.url);
    expect(stream.response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect((await stream.nextStatus()).targets).toEqual([]);
    board.setTargets([{ name: "db.corp.test", addresses: ["10.1.0.5"], source: "dns", ttlSeconds: 30 }]);
    expect((await stream.nextStatus()).targets.map((t) => t.addresses)).toEqual([["10.1.0.5"]]);
    board.setTargets([{ name: "db.corp.test", addresses: ["10.1.0.9"], source: "dns", ttlSeconds: 30 }]);
    expect((await stream.nextStatus()).targets.map((t) => t.addresses)).toEqual([["10.1.0.9"]]);
    stream.close();
  });

  it("coalesces a burst of changes into one event carrying the last snapshot", async () => {
    const { board, server } = await serve();
    const stream = await subscribe(server.url);
    await stream.nextStatus();
    for (let i = 0; i < 200; i++) board.event("info", "dns", `change ${i}`);
    const burst = await stream.nextStatus();
    expect(burst.events).toHaveLength(200);
    expect(burst.events[0]!.message).toBe("change 199");
    // Had the burst produced more than one event, the next one read would be stale, not this marker.
    board.event("info", "dns", "after the burst");
    expect((await stream.nextStatus()).events[0]!.message).toBe("after the burst");
    stream.close();
  });

  // A line starting with ":" is a comment the browser ignores; "retry:" sets its reconnection delay
  // (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
  it("sends a heartbeat comment every 15 s while nothing changes", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const { server } = await serve();
    const stream = await subscribe(server.url);
    await stream.nextStatus();
    vi.advanceTimersByTime(HEARTBEAT_MS);
    expect(HEARTBEAT_MS).toBe(15_000);
    expect(await stream.next()).toEqual({ comment: "heartbeat" });
    stream.close();
  });

  it("holds one board listener while streams are open and removes it when the last client disconnects", async () => {
    const { board, server } = await serve();
    expect(board.listenerCount("change")).toBe(0);
    const streams = await Promise.all(Array.from({ length: 20 }, () => subscribe(server.url)));
    await Promise.all(streams.map((s) => s.nextStatus()));
    expect(board.listenerCount("change")).toBe(1);
    for (const s of streams.slice(1)) s.close();
    board.event("info", "dns", "one client left");
    expect((await streams[0]!.nextStatus()).events[0]!.message).toBe("one client left");
    expect(board.listenerCount("change")).toBe(1);
    streams[0]!.close();
    await until(() => board.listenerCount("change") === 0, "the listener's removal");
    // A new client after everyone left subscribes afresh.
    const again = await subscribe(server.url);
    await again.nextStatus();
    expect(board.listenerCount("change")).toBe(1);
    board.event("info", "dns", "back");
    expect((await again.nextStatus()).events[0]!.message).toBe("back");
    again.close();
    await until(() => board.listenerCount("change") === 0, "the listener's removal");
  });

  it("close() ends open streams, stops listening and removes its listeners", async () => {
    const board = new StatusBoard();
    const server = await startStatusServer(board);
    const stream = await subscribe(server.url);
    await stream.nextStatus();
    await server.close();
    expect(await stream.next()).toBeUndefined();
    expect(board.listenerCount("change")).toBe(0);
    await expect(fetch(new URL("/api/status", server.url))).rejects.toThrow();
  });
});

describe("the endpoint file", () => {
  it("holds the URL while the server runs and is removed on close", async () => {
    const dir = await tempDir("status-endpoint");
    try {
      const file = join(dir.path, "nested", "status-endpoint");
      const server = await startStatusServer(new StatusBoard(), { endpointFile: file });
      expect(await readFile(file, "utf8")).toBe(`${server.url}\n`);
      await server.close();
      await expect(readFile(file, "utf8")).rejects.toThrow(/ENOENT/);
    } finally {
      await dir.cleanup();
    }
  });

  it("is left alone on close once a newer fleet has written its own URL there", async () => {
    const dir = await tempDir("status-endpoint");
    try {
      const file = join(dir.path, "status-endpoint");
      const server = await startStatusServer(new StatusBoard(), { endpointFile: file });
      await writeFile(file, "http://127.0.0.1:1/\n");
      await server.close();
      expect(await readFile(file, "utf8")).toBe("http://127.0.0.1:1/\n");
    } finally {
      await dir.cleanup();
    }
  });
});

describe("POST /api/actions/lose-instance", () => {
  it("calls the drill with the service and answers with its result", async () => {
    const lost: string[] = [];
    const { port } = await serve(new StatusBoard(), { actions: { loseInstance: async (service) => (lost.push(service), { generation: 3 }) } });
    const response = await raw(port, "/api/actions/lose-instance", { method: "POST", headers: { ...json(port), origin: `http://127.0.0.1:${port}` }, body: '{"service":"router"}' });
    expect([response.status, JSON.parse(response.body)]).toEqual([200, { ok: true, service: "router", result: { generation: 3 } }]);
    expect(lost).toEqual(["router"]);
  });

  it("answers 409 with the drill's error when it fails", async () => {
    const { port } = await serve(new StatusBoard(), { actions: { loseInstance: () => Promise.reject(new Error('no running instance of "vpn"')) } });
    const response = await raw(port, "/api/actions/lose-instance", { method: "POST", headers: json(port), body: '{"service":"vpn"}' });
    expect([response.status, JSON.parse(response.body)]).toEqual([409, { ok: false, service: "vpn", error: 'no running instance of "vpn"' }]);
  });

  it("is 404 when the fleet offers no drill, 405 for GET", async () => {
    const { port } = await serve();
    expect((await raw(port, "/api/actions/lose-instance", { method: "POST", headers: json(port), body: '{"service":"router"}' })).status).toBe(404);
    expect((await raw(port, "/api/actions/lose-instance", { headers: json(port) })).status).toBe(405);
  });

  it("refuses bad input, non-JSON content types, foreign origins and hosts without calling the drill", async () => {
    const lost: string[] = [];
    const { port } = await serve(new StatusBoard(), { actions: { loseInstance: async (service) => void lost.push(service) } });
    const post = (headers: Record<string, string>, body: string) => raw(port, "/api/actions/lose-instance", { method: "POST", headers, body });
    for (const body of ["", "not json", "[]", "{}", '{"service":""}', '{"service":7}', '{"service":"a b"}', '{"service":"../x"}']) {
      const response = await post(json(port), body);
      expect([body, response.status]).toEqual([body, 400]);
    }
    // The only types a cross-site form or a preflight-free fetch can send
    // (https://fetch.spec.whatwg.org/#cors-safelisted-request-header).
    for (const type of ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]) {
      const response = await post({ host: `127.0.0.1:${port}`, "content-type": type }, '{"service":"router"}');
      expect([type, response.status]).toEqual([type, 415]);
    }
    expect((await post({ host: `127.0.0.1:${port}` }, '{"service":"router"}')).status).toBe(415);
    expect((await post({ ...json(port), origin: "http://evil.example" }, '{"service":"router"}')).status).toBe(403);
    expect((await post({ ...json(port), host: `attacker.example:${port}` }, '{"service":"router"}')).status).toBe(403);
    expect((await post(json(port), JSON.stringify({ service: "x".repeat(5000) }))).status).toBe(413);
    expect(lost).toEqual([]);
    // And the same request, well formed, goes through.
    expect((await post({ ...json(port), "content-type": "application/json; charset=utf-8" }, '{"service":"router"}')).status).toBe(200);
    expect(lost).toEqual(["router"]);
  });
});

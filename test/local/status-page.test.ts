// The status page in a real browser (Debian's Chromium, headless): what it shows, live updates without a reload,
// user-written text kept as text, the drill button, and the "disconnected" notice.
import { mkdir } from "node:fs/promises";
import { createServer } from "node:http";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStatusServer, type StatusServer } from "../../functions/local/status-server.ts";
import { StatusBoard } from "../../functions/local/status.ts";
import { tempDir } from "../support/tmp.ts";

const ARTIFACTS = resolve(import.meta.dirname, "../../.artifacts");
const XSS_SUBJECT = '<img src=x onerror="window.__xss = true">allow partner.example';
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

function filledBoard(): StatusBoard {
  const board = new StatusBoard(T0);
  board.update((s) => ({ ...s, repository: "/srv/fleet-config", branch: "main", headCommit: "bad0c0ffee1234567", acceptedCommit: "a1b2c3d4e5f60718" }));
  board.setService({
    service: "router", kind: "haproxy", ports: [15432],
    active: { generation: 2, hash: "sha256:9f86d081884c7d65", commit: "a1b2c3d4e5f60718", health: "healthy", ports: [25432], restarts: 1, lastRestartReason: "exit 137" },
    others: [{ generation: 1, hash: "5e884898da280471", commit: "0f0e0d0c0b0a0908", health: "healthy", ports: [25431], restarts: 0 }],
    failedHashes: ["deadbeefcafe0001"],
  });
  board.setService({ service: "egress", kind: "squid", ports: [13128], others: [], failedHashes: [] });
  board.setService({
    service: "datacenter-vpn", kind: "strongswan", ports: [],
    active: { generation: 1, hash: "2c26b46b68ffc68f", commit: "a1b2c3d4e5f60718", health: "healthy", ports: [], restarts: 0 }, others: [], failedHashes: [],
  });
  board.setTargets([{ name: "db.corp.test", addresses: ["10.1.0.5"], source: "dns", ttlSeconds: 30, resolvedAt: T0 }]);
  board.setTunnel({ service: "datacenter-vpn", connection: "dc1", state: "up", since: T0 });
  board.recordRollout({
    commit: "a1b2c3d4e5f60718", service: "router", hash: "9f86d081884c7d65", outcome: "succeeded",
    startedAt: T0, finishedAt: T0 + 1450, timings: { healthyMs: 820, shiftedMs: 835, drainedMs: 1450 },
  });
  board.recordRejected({
    commit: "bad0c0ffee1234567", subject: XSS_SUBJECT, at: T0 + 5000,
    errors: [{ file: "fleet.yaml", line: 6, column: 22, rule: "cidr", message: 'services.e.allowedSources.0: "10.0.0.1/8" has host bits set' }],
  });
  board.event("warn", "rollout", "commit bad0c0f rejected: 1 error", T0 + 5000);
  return board;
}

let board: StatusBoard;
let server: StatusServer;
let profile: { path: string; cleanup: () => Promise<void> };
let browser: BrowserContext;
let page: Page;
const lost: string[] = [];
const pageErrors: string[] = [];
let navigations = 0;

beforeAll(async () => {
  board = filledBoard();
  server = await startStatusServer(board, { actions: { loseInstance: async (service) => (lost.push(service), { lossToTunnelUpMs: 1234 }) } });
  profile = await tempDir("chromium-profile");
  browser = await chromium.launchPersistentContext(profile.path, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  // Content-security-policy violations and script errors show up here.
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => void (message.type() === "error" && pageErrors.push(message.text())));
  page.on("framenavigated", (frame) => void (frame === page.mainFrame() && navigations++));
  await page.goto(server.url);
  await page.locator("#connection.live").waitFor({ timeout: 10_000 });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await profile?.cleanup();
});

const text = (selector: string) => page.locator(selector).first().innerText();

describe("the status page in Chromium", () => {
  it("shows each service with its active generation, the other generations and failed hashes", async () => {
    const router = page.locator("#services tbody tr", { hasText: "router" });
    const cells = await router.locator("td").allInnerTexts();
    expect(cells.slice(0, 8)).toEqual([
      "router", "haproxy", "15432", "#2 9f86d081884c @ a1b2c3d", "healthy", "1 (exit 137)", "#1 5e884898da28 @ 0f0e0d0 healthy on 25431", "deadbeefcafe",
    ]);
    const egress = await page.locator("#services tbody tr", { hasText: "egress" }).locator("td").allInnerTexts();
    expect(egress.slice(0, 5)).toEqual(["egress", "squid", "13128", "none yet", "—"]);
  });

  it("shows the accepted commit, targets with source and TTL, tunnels and rollouts with timings", async () => {
    expect(await text('#summary dd[data-field="accepted commit"]')).toBe("a1b2c3d");
    expect(await page.locator('#summary dd[data-field="accepted commit"] code').getAttribute("title")).toBe("a1b2c3d4e5f60718");
    expect((await page.locator("#targets tbody tr").first().locator("td").allInnerTexts()).slice(0, 4)).toEqual(["db.corp.test", "10.1.0.5", "dns", "30 s"]);
    expect((await page.locator("#tunnels tbody tr").first().locator("td").allInnerTexts()).slice(0, 3)).toEqual(["datacenter-vpn", "dc1", "up"]);
    const rollout = await page.locator("#rollouts tbody tr").first().locator("td").allInnerTexts();
    expect([rollout[0], rollout[1], rollout[3], rollout[5], rollout[6]]).toEqual(["a1b2c3d", "router", "succeeded", "1.5 s", "healthy +820 ms, shifted +835 ms, drained +1.5 s"]);
  });

  it("shows a rejected commit's errors as file:line:column with the rule", async () => {
    expect(await text("#rejected li code.error")).toBe('fleet.yaml:6:22: error[cidr]: services.e.allowedSources.0: "10.0.0.1/8" has host bits set');
    expect(await text("#events li")).toMatch(/warn +\[rollout\] commit bad0c0f rejected: 1 error$/);
  });

  it("shows a commit subject written as markup as text, running none of it", async () => {
    expect(await page.locator("#rejected q.subject").textContent()).toBe(XSS_SUBJECT);
    // The policy would block the inline handler anyway; no img element at all shows the markup was never parsed.
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: boolean }).__xss)).toBeUndefined();
  });

  it("shows a DNS change live, without reloading the page", async () => {
    await page.evaluate(() => ((globalThis as unknown as { samePage: string }).samePage = "still here"));
    const rendersBefore = Number(await page.locator("body").getAttribute("data-renders"));
    const button = page.locator('button[data-lose-instance="datacenter-vpn"]');
    await button.evaluate((node) => void ((node as unknown as { dataset: Record<string, string> }).dataset.marked = "before"));
    board.setTargets([
      { name: "db.corp.test", addresses: ["10.1.0.9", "10.1.0.10"], source: "dns", ttlSeconds: 5, resolvedAt: T0 + 60_000 },
      { name: "web.corp.test", addresses: ["10.2.0.1"], source: "last-known-good", ttlSeconds: 60 },
    ]);
    await page.locator('[data-addresses-of="db.corp.test"]', { hasText: "10.1.0.9, 10.1.0.10" }).waitFor({ timeout: 5_000 });
    expect(await text('[data-addresses-of="web.corp.test"]')).toBe("10.2.0.1");
    expect((await page.locator("#targets tbody tr", { hasText: "web.corp.test" }).locator("td").allInnerTexts()).slice(2, 4)).toEqual(["last-known-good", "60 s"]);
    expect(await page.evaluate(() => (globalThis as unknown as { samePage?: string }).samePage)).toBe("still here");
    expect(navigations).toBe(1);
    expect(Number(await page.locator("body").getAttribute("data-renders"))).toBeGreaterThan(rendersBefore);
    // Sections whose data did not change are not redrawn: the button under the pointer stays the same element.
    expect(await button.getAttribute("data-marked")).toBe("before");
  });

  it("a strongSwan service's lose-instance button runs the drill and shows how long healing took", async () => {
    expect(await page.locator("button[data-lose-instance]").count()).toBe(1);
    expect((await page.locator("#services tbody tr", { hasText: "router" }).locator("td").allInnerTexts()).at(-1)).toBe("—");
    await page.locator('button[data-lose-instance="datacenter-vpn"]').click();
    await page.locator("#action-result", { hasText: "datacenter-vpn: healed, tunnels up 1.2 s after the loss" }).waitFor({ timeout: 5_000 });
    expect(lost).toEqual(["datacenter-vpn"]);
  });

  it("keeps a screenshot of the page as a test artifact", async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const png = await page.screenshot({ path: join(ARTIFACTS, "status-page.png"), fullPage: true });
    expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
  });

  it("says 'disconnected — retrying' when the stream drops, and goes live again when the fleet is back, even after something else answered on its port", async () => {
    const port = Number(new URL(server.url).port);
    await server.close();
    // Something else answers on the port for a while: EventSource gives up on a non-stream answer for good.
    let impostorRequests = 0;
    const impostor = createServer((_, response) => void (impostorRequests++, response.writeHead(503).end()));
    await new Promise<void>((resolveListen) => impostor.listen(port, "127.0.0.1", resolveListen));
    await page.locator("#connection.disconnected", { hasText: "disconnected — retrying" }).waitFor({ timeout: 5_000 });
    for (let i = 0; i < 100 && impostorRequests === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(impostorRequests).toBeGreaterThan(0);
    await new Promise((resolveClose) => impostor.close(resolveClose));
    const restarted = filledBoard();
    restarted.setTargets([{ name: "db.corp.test", addresses: ["10.1.0.77"], source: "dns", ttlSeconds: 30 }]);
    server = await startStatusServer(restarted, { port });
    await page.locator("#connection.live").waitFor({ timeout: 10_000 });
    await page.locator('[data-addresses-of="db.corp.test"]', { hasText: "10.1.0.77" }).waitFor({ timeout: 5_000 });
    expect(navigations).toBe(1);
  });

  it("ran with no script errors or content-security-policy violations", () => {
    // While the fleet is away the browser logs the dropped stream and the impostor's 503; anything else is a defect.
    expect(pageErrors.filter((e) => !/api\/events|ERR_CONNECTION_REFUSED|ERR_INCOMPLETE_CHUNKED_ENCODING|status of 503/.test(e))).toEqual([]);
  });
});

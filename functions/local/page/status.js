// The local fleet's status page: renders each board snapshot from the server's event stream. Every value from the
// board goes in as text (textContent), never as markup: commit subjects and errors are written by users.
/* global document, EventSource, fetch, setTimeout */

const $ = (id) => document.getElementById(id);

/** An element with text or element children; strings always become text nodes. */
function el(tag, options = {}, ...children) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.title) node.title = options.title;
  if (options.data) for (const [key, value] of Object.entries(options.data)) node.dataset[key] = String(value);
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return node;
}

const short = (text, length) => (text ? String(text).slice(0, length) : "—");
const commitId = (commit) => el("code", { title: commit ?? "" }, short(commit, 7));
// Hashes are "sha256:<hex>": the hex part is what tells two bundles apart.
const bundleHash = (hash) => el("code", { title: hash ?? "" }, short(hash?.replace(/^sha256:/, ""), 12));
const clock = (ms) => (ms === undefined ? "—" : new Date(ms).toLocaleTimeString([], { hour12: false }));
const duration = (ms) => (ms === undefined ? "—" : ms < 1000 ? `${Math.round(ms)} ms` : `${(Math.round(ms / 100) / 10).toFixed(1)} s`);
const located = (e) => `${e.file}:${e.line}${e.column === undefined ? "" : `:${e.column}`}: error[${e.rule}]: ${e.message}`;

function fillRows(tableId, rows, columns, emptyText) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(
    ...(rows.length === 0
      ? [el("tr", {}, el("td", { className: "empty" }, emptyText))]
      : rows.map((row) => el("tr", {}, ...row.map((cell) => el("td", {}, cell))))),
  );
  if (rows.length === 0) body.rows[0].cells[0].colSpan = columns;
}

function generationText(g) {
  return [`#${g.generation} `, bundleHash(g.hash), " @ ", commitId(g.commit), ` ${g.health}`, g.ports.length ? ` on ${g.ports.join(", ")}` : ""];
}

function renderSummary(status) {
  const entries = [
    ["repository", status.repository ?? "—"],
    ["branch", status.branch ?? "—"],
    ["head", commitId(status.headCommit)],
    ["accepted commit", commitId(status.acceptedCommit)],
    ["running since", clock(status.startedAt)],
  ];
  $("summary").replaceChildren(...entries.flatMap(([term, value]) => [el("dt", {}, term), el("dd", { data: { field: term } }, value)]));
}

function renderServices(status) {
  fillRows("services", status.services.map((s) => [
    el("strong", {}, s.service),
    s.kind,
    s.ports.join(", ") || "—",
    s.active ? el("span", {}, "#", String(s.active.generation), " ", bundleHash(s.active.hash), " @ ", commitId(s.active.commit)) : "none yet",
    el("span", { className: s.active?.health ?? "starting" }, s.active?.health ?? "—"),
    s.active ? el("span", { title: s.active.lastRestartReason ?? "" }, String(s.active.restarts), s.active.lastRestartReason ? ` (${s.active.lastRestartReason})` : "") : "—",
    s.others.length ? el("ul", {}, s.others.map((g) => el("li", { className: g.health }, generationText(g)))) : "—",
    s.failedHashes.length ? el("span", {}, s.failedHashes.flatMap((h, i) => (i ? [", ", bundleHash(h)] : [bundleHash(h)]))) : "—",
    // Only strongSwan services run on an instance of their own (ENI and Elastic IP that move on heal).
    s.kind === "strongswan"
      ? el("button", { data: { loseInstance: s.service }, title: "lose this service's instance and watch the fleet heal it" }, "lose instance")
      : "—",
  ]), 9, "no services yet");
}

function renderTargets(status) {
  fillRows("targets", status.targets.map((t) => [
    el("code", {}, t.name),
    el("span", { data: { addressesOf: t.name } }, t.addresses.join(", ") || "none"),
    t.source,
    t.ttlSeconds === undefined ? "—" : `${t.ttlSeconds} s`,
    clock(t.resolvedAt),
  ]), 5, "no names to resolve");
}

function renderTunnels(status) {
  fillRows("tunnels", status.tunnels.map((t) => [
    t.service, t.connection, el("span", { className: t.state }, t.state), clock(t.since), t.detail ?? "",
  ]), 5, "no tunnels");
}

function renderRollouts(status) {
  fillRows("rollouts", status.rollouts.map((r) => [
    commitId(r.commit),
    r.service,
    bundleHash(r.hash),
    el("span", { className: r.outcome, title: r.detail ?? "" }, r.outcome, r.detail ? ` — ${r.detail}` : ""),
    clock(r.startedAt),
    duration(r.finishedAt === undefined ? undefined : r.finishedAt - r.startedAt),
    Object.entries(r.timings ?? {}).map(([step, ms]) => `${step.replace(/(After)?Ms$/, "")} +${duration(ms)}`).join(", ") || "—",
  ]), 7, "no rollouts yet");
}

function renderRejected(status) {
  const items = status.rejected.map((r) => el("li", { data: { commit: r.commit } },
    commitId(r.commit), " ", el("q", { className: "subject" }, r.subject), ` at ${clock(r.at)}`,
    el("ul", {}, r.errors.map((e) => el("li", {}, el("code", { className: "error" }, located(e))))),
  ));
  $("rejected").replaceChildren(...(items.length ? items : [el("li", { className: "empty" }, "none")]));
}

function renderEvents(status) {
  const items = status.events.map((e) => el("li", { className: e.level }, `${clock(e.at)} ${e.level.padEnd(5)} [${e.source}] ${e.message}`));
  $("events").replaceChildren(...(items.length ? items : [el("li", { className: "empty" }, "none")]));
}

const sections = [
  [renderSummary, (s) => [s.repository, s.branch, s.headCommit, s.acceptedCommit, s.startedAt]],
  [renderServices, (s) => s.services],
  [renderTargets, (s) => s.targets],
  [renderTunnels, (s) => s.tunnels],
  [renderRollouts, (s) => s.rollouts],
  [renderRejected, (s) => s.rejected],
  [renderEvents, (s) => s.events],
];
const rendered = new Map();

/** Redraws only the sections whose data changed, so a button is not replaced under the pointer by an unrelated update. */
function render(status) {
  for (const [draw, part] of sections) {
    const key = JSON.stringify(part(status));
    if (rendered.get(draw) === key) continue;
    rendered.set(draw, key);
    draw(status);
  }
  document.body.dataset.renders = String(Number(document.body.dataset.renders ?? 0) + 1);
}

function showConnection(state, text) {
  const connection = $("connection");
  connection.className = state;
  connection.textContent = text;
}

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => showConnection("live", "live"));
  events.addEventListener("status", (message) => {
    showConnection("live", "live");
    render(JSON.parse(message.data));
  });
  // EventSource reconnects by itself after a dropped stream (the server asks for 2 s), but gives up for good on an
  // answer that is not an event stream (something else on the port): then start over the same way.
  events.addEventListener("error", () => {
    showConnection("disconnected", "disconnected — retrying");
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  });
}

async function loseInstance(service) {
  const result = $("action-result");
  result.textContent = `${service}: instance lost; healing (the drill waits for the tunnels to carry traffic again)…`;
  try {
    const response = await fetch("/api/actions/lose-instance", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service }),
    });
    const body = await response.json().catch(() => ({}));
    const healed = body.result?.lossToTunnelUpMs;
    result.textContent = !response.ok
      ? `${service}: ${body.error ?? response.statusText}`
      : healed === undefined ? `${service}: instance lost` : `${service}: healed, tunnels up ${duration(healed)} after the loss`;
  } catch (error) {
    result.textContent = `${service}: ${error.message}`;
  }
}

$("services").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-lose-instance]");
  if (button) void loseInstance(button.dataset.loseInstance);
});

connect();

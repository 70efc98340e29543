// The routerd wallboard: reads /api/v1/snapshot and /api/v1/agents, follows /api/v1/events.
// Every event schedules a refresh of the figures (at most a few a second); the longest waits
// tick locally between refreshes. With tokens configured, open the page as /#token=TOKEN.
// The agents table shows one page (`#page_size=N`, default and most 1000) of the agents able
// to serve the queue picked by clicking its card (`#queue=NAME`), or of every agent.

const hash = new URLSearchParams(location.hash.slice(1));
const token = hash.get("token");
const PAGE_SIZE = Math.min(1000, Math.max(1, Number(hash.get("page_size")) || 1000));
const STALE_AFTER_MS = 5000;
const TICKER_LENGTH = 15;

const state = {
  snapshot: null, // the last SnapshotResponse
  fetchedAt: 0, // when it arrived, by this browser's clock
  agents: [],
  queue: hash.get("queue") || "", // the agents shown can serve this queue ("": every agent)
  pages: [""], // the page tokens of the pages read so far; the last is the one shown
  next: "", // the shown page's next_page_token ("" on the last page)
  agentsAsked: 0, // the number of the latest agents request: an answer to an earlier one is dropped
  lastMessageAt: 0,
  source: null,
};

// Keeps the filter in the address, so a reload or a bookmark shows the same agents.
function rememberFilter() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (state.queue) params.set("queue", state.queue);
  else params.delete("queue");
  history.replaceState(null, "", `#${params}`);
}

function pickQueue(queue) {
  state.queue = state.queue === queue ? "" : queue;
  state.pages = [""];
  rememberFilter();
  renderSnapshot();
  refreshAgents();
}

function turnPage(forward) {
  if (forward && state.next) state.pages.push(state.next);
  else if (!forward && state.pages.length > 1) state.pages.pop();
  else return;
  refreshAgents();
}

const $ = (id) => document.getElementById(id);
const num = (v) => Number(v ?? 0);

async function getJson(path) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(path, { headers, cache: "no-store" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const error = new Error(`${path}: ${response.status} ${body.message ?? ""}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

// Runs `task` at most once per `ms`, and once more after the last call.
function throttle(task, ms) {
  let timer = null;
  let again = false;
  return () => {
    if (timer) {
      again = true;
      return;
    }
    task();
    timer = setTimeout(function done() {
      timer = null;
      if (again) {
        again = false;
        task();
        timer = setTimeout(done, ms);
      }
    }, ms);
  };
}

function seconds(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

const percent = (ratio) => `${(ratio * 100).toFixed(1)}%`;

// The engine's time now, as of the last snapshot plus what this clock says has passed since.
const engineNow = () => num(state.snapshot?.atMs) + (Date.now() - state.fetchedAt);

function element(tag, attributes = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function clock(ms) {
  return new Date(num(ms)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

function queueCard(q) {
  const target = num(q.slTargetPercent) / 100;
  const today = q.today ?? {};
  const interval = q.interval ?? {};
  const sl = num(today.slOffered ?? 1);
  const ended = num(today.answered) + num(today.abandoned) + num(today.expired);
  const health = ended === 0 || sl >= target ? "good" : sl >= target - 0.05 ? "warn" : "bad";
  const picked = state.queue === q.queue ? " picked" : "";
  const card = element("article", {
    class: `queue ${health}${picked}`,
    "data-queue": q.queue,
    title: picked ? "showing the agents who can serve this queue; click for every agent" : "click for the agents who can serve this queue",
  });
  card.addEventListener("click", () => pickQueue(q.queue));
  const threshold = num(q.slThresholdSeconds);
  card.append(
    element("h3", {}, element("span", {}, q.queue), element("span", { class: "sl", title: "service level today" }, percent(sl))),
    element(
      "div",
      { class: "big" },
      element("div", { class: "waiting" }, element("b", { "data-field": "waiting" }, String(num(q.waiting))), element("span", {}, "waiting")),
      element("div", { class: "wait", "data-field": "longest" }, element("b", {}, "0s"), element("span", {}, "longest wait")),
      element("div", {}, element("b", {}, String(num(q.offeredNow))), element("span", {}, "ringing")),
    ),
  );
  const staff = element("dl");
  for (const [label, value] of [
    ["ready", num(q.agentsReady)],
    ["busy", num(q.agentsBusy)],
    ["wrap-up", num(q.agentsWrapUp)],
    ["not ready", num(q.agentsNotReady)],
  ]) staff.append(element("dt", {}, label), element("dd", {}, String(value)));
  const periods = element("table", { class: "periods" });
  periods.append(element("tr", {}, element("th", {}, ""),
    element("th", { "data-field": "interval" }, `${clock(interval.startMs)}–${clock(interval.endMs)}`),
    element("th", {}, "today")));
  const rows = [
    ["SL", (p) => percent(num(p.slOffered ?? 1))],
    ["ASA", (p) => seconds(num(p.asaMs))],
    ["abandoned", (p) => percent(num(p.abandonRate))],
    ["answered", (p) => String(num(p.answered))],
    ["entered", (p) => String(num(p.offered))],
  ];
  for (const [label, value] of rows) {
    periods.append(element("tr", {}, element("td", {}, label), element("td", {}, value(interval)), element("td", {}, value(today))));
  }
  card.append(
    staff,
    periods,
    element(
      "div",
      { class: "definition" },
      `SL = answered within ${threshold}s / offered that ended (answered + abandoned + expired); target ${num(q.slTargetPercent)}%. Last 30 min: ${percent(num(q.recentSlOffered))}`,
    ),
  );
  card.longestWaitMs = num(q.longestWaitMs);
  card.threshold = threshold;
  return card;
}

function tickWaits() {
  const passed = Date.now() - state.fetchedAt;
  for (const card of document.querySelectorAll(".queue")) {
    const wait = card.querySelector("[data-field=longest]");
    const ms = card.longestWaitMs > 0 ? card.longestWaitMs + passed : 0;
    wait.querySelector("b").textContent = seconds(ms);
    const over = ms / 1000 / (card.threshold || 1);
    wait.className = `wait ${over >= 1 ? "bad" : over >= 0.5 ? "warn" : ""}`;
  }
}

function renderSnapshot() {
  const s = state.snapshot;
  $("floor-waiting").textContent = num(s.contactsWaiting);
  $("floor-logged-in").textContent = num(s.agentsLoggedIn);
  $("floor-ready").textContent = num(s.agentsReady);
  $("queues").replaceChildren(...(s.queues ?? []).map(queueCard));
  tickWaits();
}

function agentState(a) {
  const presence = (a.presence ?? "").replace("AGENT_PRESENCE_", "").toLowerCase();
  if (presence === "ready" && num(a.load) > 0) return "busy";
  return presence || "unknown";
}

function renderAgents() {
  const now = engineNow();
  const rows = state.agents.map((a) => {
    const spec = a.spec ?? {};
    const kind = agentState(a);
    let inState = num(a.stateSinceMs) > 0 ? seconds(now - num(a.stateSinceMs)) : "";
    if (kind === "wrap_up" && num(a.wrapUpUntilMs) > 0) inState += ` (${seconds(num(a.wrapUpUntilMs) - now)} left)`;
    const contacts = (a.contacts ?? []).map((c) => {
      const channel = (c.channel ?? "").replace("CHANNEL_", "").toLowerCase();
      const since = num(c.answeredAtMs) > 0 ? seconds(now - num(c.answeredAtMs)) : "ringing";
      return `${c.queue} · ${channel} · ${since}`;
    });
    const label = kind === "not_ready" && a.notReadyReason ? `not ready (${a.notReadyReason})` : kind.replace("_", " ");
    return element(
      "tr",
      { "data-agent": spec.id ?? "" },
      element("td", {}, spec.name || spec.id || ""),
      element("td", { class: `state-${kind}`, "data-field": "state" }, label),
      element("td", {}, inState),
      element("td", { "data-field": "contacts" }, contacts.join(", ")),
      element("td", {}, `${num(a.load)} / ${num(spec.capacity)}`),
      element("td", {}, String(num(a.missedOffersInRow))),
      element("td", { title: "handling + wrap-up over handling + wrap-up + idle; not-ready time left out" }, `${percent(num(a.occupancyToday))} (${percent(num(a.occupancyExclNotReady))})`),
      element("td", {}, String(num(a.contactsHandled))),
    );
  });
  $("agents").tBodies[0].replaceChildren(...rows);
  const page = state.pages.length;
  const first = (page - 1) * PAGE_SIZE + 1;
  const shown = state.agents.length ? `${first}–${first + state.agents.length - 1}` : "none";
  $("agents-scope").textContent = `${state.queue ? `able to serve ${state.queue}` : "all"} · ${shown}`;
  $("agents-previous").disabled = page === 1;
  $("agents-next").disabled = !state.next;
}

async function refreshSnapshot() {
  try {
    state.snapshot = await getJson("/api/v1/snapshot");
    state.fetchedAt = Date.now();
    renderSnapshot();
  } catch (e) {
    setStatus("stale", e.message);
  }
}

async function refreshAgents() {
  const params = new URLSearchParams({ page_size: PAGE_SIZE, page_token: state.pages.at(-1) });
  if (state.queue) params.set("queue", state.queue);
  const asked = ++state.agentsAsked;
  try {
    const page = await getJson(`/api/v1/agents?${params}`);
    // A page turned or a queue picked meanwhile: a later request answers for the table.
    if (asked !== state.agentsAsked) return;
    state.agents = page.agents ?? [];
    state.next = page.nextPageToken ?? "";
    renderAgents();
  } catch (e) {
    if (asked !== state.agentsAsked) return;
    if (state.queue && e.status === 404) {
      // The queue was deleted: back to every agent.
      pickQueue(state.queue);
      return;
    }
    setStatus("stale", e.message);
  }
}

const snapshotSoon = throttle(refreshSnapshot, 250);
const agentsSoon = throttle(refreshAgents, 500);

function setStatus(kind, text) {
  const status = $("status");
  status.className = `status ${kind}`;
  status.textContent = text;
}

function addDecision(d) {
  const candidate = (d.candidates ?? [])[0];
  const score = candidate ? ` · score ${num(candidate.score).toFixed(2)}` : "";
  const trigger = (d.trigger ?? "").replace("TRIGGER_", "").toLowerCase().replaceAll("_", " ");
  const item = element(
    "li",
    {},
    `contact ${d.contactId} → ${d.agentId} (${d.queue}) after ${seconds(num(d.waitedMs))}`,
    element("small", {}, `${d.strategy} · ${trigger}${score} · ${num(d.considered)} considered`),
  );
  const ticker = $("ticker");
  ticker.prepend(item);
  while (ticker.children.length > TICKER_LENGTH) ticker.lastChild.remove();
}

function connect(from) {
  const params = new URLSearchParams();
  if (from) params.set("from", from);
  if (token) params.set("access_token", token);
  const query = params.toString();
  const source = new EventSource(`/api/v1/events${query ? `?${query}` : ""}`);
  state.source = source;
  const heard = () => {
    state.lastMessageAt = Date.now();
    setStatus("live", "live");
  };
  source.onopen = heard;
  source.addEventListener("heartbeat", heard);
  source.onmessage = heard;
  source.onerror = () => setStatus("connecting", "reconnecting…");
  // Every kind routerd publishes (EventKind, lower case without its prefix).
  const kinds = [
    "contact_queued", "decision", "offer_accepted", "offer_rejected", "offer_timed_out",
    "offer_returned", "contact_abandoned", "contact_cancelled", "contact_expired",
    "contact_completed", "agent_state_changed", "queue_changed", "agent_changed",
    "contact_updated", "contact_transferred", "exception_fired", "contact_diverted",
    "callback_requested", "callback_attempted", "contact_unreached", "consult_accepted",
    "consult_ended",
  ];
  for (const kind of kinds) {
    source.addEventListener(kind, (message) => {
      heard();
      if (kind === "decision") addDecision(JSON.parse(message.data).decision ?? {});
      snapshotSoon();
      agentsSoon();
    });
  }
  source.addEventListener("lagged", (message) => {
    // Fell behind: start again where the server says, and re-read the figures.
    source.close();
    connect(JSON.parse(message.data).resumeFrom);
    snapshotSoon();
    agentsSoon();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("agents-previous").addEventListener("click", () => turnPage(false));
  $("agents-next").addEventListener("click", () => turnPage(true));
  refreshSnapshot();
  refreshAgents();
  connect(null);
  setInterval(() => {
    if (state.snapshot) tickWaits();
    if (Date.now() - state.lastMessageAt > STALE_AFTER_MS) setStatus("stale", "stale: no word from the server for 5 s");
  }, 1000);
  // The agents' times in state run on even when nothing happens.
  setInterval(renderAgents, 5000);
});

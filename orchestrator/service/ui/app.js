// airlock's page (GET /ui): who the token is, the tenant's runs and their live events,
// and the approvals they wait for.
//
// Every string the service sends comes from the attacker's side: commands, file names,
// the model's text, command output. It is shown only as text (Text nodes, textContent),
// made visible first (control, bidi and zero-width characters spelled out), and never
// parsed as HTML: this file has no innerHTML, no insertAdjacentHTML, no document.write,
// and the page's CSP requires Trusted Types for them, so one added later throws.
//
// The token lives in sessionStorage (this tab only) and goes out only in the
// Authorization header of requests to this origin, never in a URL.
"use strict";

const TOKEN_KEY = "airlock.token";
const RUNS_EVERY_MS = 2000;
const APPROVALS_EVERY_MS = 1000;
const RECONNECT_MS = 1000;
const SHORT = 300; // characters of one event line
const MAX_EVENT_LINES = 2000; // the oldest go past this
const REASON = "from the web page";
const APPROVER_ROLES = new Set(["admin", "approver"]);

const $ = (id) => document.getElementById(id);

// -- text ------------------------------------------------------------------------------

const NAMED = { "\r": "\\r", "\b": "\\b", "\x07": "\\a", "\f": "\\f", "\v": "\\v", "\0": "\\0" };
// Control (Cc), format (Cf: bidi overrides, zero-width), line/paragraph separators and
// lone surrogates, but newline and tab, and a carriage return right before a newline.
const UNSAFE = /\r(?!\n)|(?![\n\t\r])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

function hex(code, width) {
  return code.toString(16).padStart(width, "0");
}

/** `value` as a string whose every character shows as what it is. */
function visible(value) {
  return String(value).replace(UNSAFE, (ch) => {
    if (NAMED[ch]) return NAMED[ch];
    const code = ch.codePointAt(0);
    if (code < 0x100) return `\\x${hex(code, 2)}`;
    if (code < 0x10000) return `\\u${hex(code, 4)}`;
    return `\\U${hex(code, 8)}`;
  });
}

/** One line of at most SHORT characters: whitespace runs become one space. */
function short(value) {
  const line = visible(value).replace(/\s+/g, " ").trim();
  return line.length > SHORT ? `${line.slice(0, SHORT - 1)}…` : line;
}

/** An element: attributes from this file's code only; children are nodes, or strings
 * that become Text nodes (made visible). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, String(value));
  }
  for (const child of children) {
    node.append(typeof child === "string" ? visible(child) : child);
  }
  return node;
}

function setText(node, value) {
  node.textContent = visible(value);
}

function status(message, isError = false) {
  const line = $("status");
  setText(line, message);
  line.classList.toggle("error", isError);
}

// -- the service -------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function authHeaders() {
  return { Authorization: `Bearer ${token()}` };
}

let epoch = 0; // bumped when the token changes: answers for the old one are dropped
let rejected = false; // the service did not know the token: no polling until a new one
let role = null;

/** `method path` on the service with the token; its JSON body, or an ApiError. */
async function api(method, path, body) {
  const init = { method, headers: authHeaders(), cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : response.statusText;
    if (response.status === 401) rejected = true;
    throw new ApiError(response.status, detail);
  }
  return data;
}

function report(error) {
  const unknownToken = error instanceof ApiError && error.status === 401;
  if (rejected && !unknownToken) return; // that the token is not taken says it all
  if (unknownToken) {
    status(`The service does not take this token (${error.detail}). Paste another.`, true);
  } else {
    status(`${error.message || error}`, true);
  }
}

/** Run `task` every `everyMs` after it last ended, while a token is set and taken
 * (`restart` runs it at once when the token changes). */
function poll(task, everyMs) {
  const tick = async () => {
    if (token() && !rejected) {
      const mine = epoch;
      try {
        await task(mine);
      } catch (error) {
        if (mine === epoch) report(error);
      }
    }
    setTimeout(tick, everyMs);
  };
  setTimeout(tick, everyMs);
}

// -- token and whoami --------------------------------------------------------------------

const TOKEN_SHAPE = /^[\x21-\x7e]{1,512}$/; // what an HTTP header carries as it is

async function showWhoami() {
  const mine = epoch;
  const who = await api("GET", "/v1/whoami");
  if (mine !== epoch) return;
  role = String(who.role);
  const line = $("whoami");
  line.replaceChildren(
    "tenant ",
    el("strong", { "data-testid": "whoami-tenant" }, String(who.tenant)),
    ", role ",
    el("strong", { "data-testid": "whoami-role" }, role),
  );
  line.dataset.tenant = String(who.tenant);
  status("");
  for (const card of $("approvals").children) setDecidable(card);
}

function useToken() {
  const input = $("token");
  const value = input.value.trim();
  if (!TOKEN_SHAPE.test(value)) {
    status("A token is printable ASCII without spaces (alk_...).", true);
    return;
  }
  input.value = "";
  sessionStorage.setItem(TOKEN_KEY, value);
  restart();
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  restart();
}

/** Start over for the token now stored (or none). */
function restart() {
  epoch += 1;
  rejected = false;
  role = null;
  stopStream();
  $("runs").replaceChildren();
  $("approvals").replaceChildren();
  $("events").replaceChildren();
  setText($("events-run"), "");
  setText($("events-state"), "");
  showEmpty();
  if (!token()) {
    setText($("whoami"), "no token");
    status("");
    return;
  }
  setText($("whoami"), "…");
  showWhoami().catch(report);
  refreshRuns(epoch).catch(report);
  refreshApprovals(epoch).catch(report);
}

function showEmpty() {
  $("runs-empty").hidden = $("runs").children.length > 0;
  $("approvals-empty").hidden = $("approvals").children.length > 0;
}

// -- runs --------------------------------------------------------------------------------

async function refreshRuns(mine) {
  const listed = await api("GET", "/v1/runs");
  if (mine !== epoch) return;
  const list = $("runs");
  const before = new Map([...list.children].map((row) => [row.dataset.runId, row]));
  const rows = [];
  for (const run of listed.items || []) {
    const id = String(run.id);
    const row = before.get(id) || runRow(id);
    fillRunRow(row, run);
    rows.push(row);
  }
  list.replaceChildren(...rows); // newest first, as listed; kept rows keep their state
  showEmpty();
}

function runRow(id) {
  const row = el("li", { "data-testid": "run", "data-run-id": id, tabindex: "0" });
  row.addEventListener("click", () => selectRun(id));
  row.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") selectRun(id);
  });
  return row;
}

function fillRunRow(row, run) {
  const state = String(run.state);
  row.dataset.state = state;
  let where = "";
  if (run.queue_position !== null && run.queue_position !== undefined) {
    where = ` #${run.queue_position} in queue`;
  }
  row.replaceChildren(
    el("span", { class: "state", "data-testid": "run-state", "data-state": state }, state + where),
    el("code", { class: "id" }, String(run.id)),
    el("span", { class: "task", "data-testid": "run-task" }, short(run.task ?? "")),
  );
  if (run.reason) row.append(el("span", { class: "reason" }, short(run.reason)));
  row.classList.toggle("selected", stream !== null && stream.runId === String(run.id));
}

// -- a run's events ----------------------------------------------------------------------

let stream = null; // the run whose events are shown: {runId, controller, lastId, ended}

function stopStream() {
  if (stream) stream.controller.abort();
  stream = null;
}

function selectRun(runId) {
  if (stream && stream.runId === runId) return;
  stopStream();
  $("events").replaceChildren();
  setText($("events-run"), runId);
  for (const row of $("runs").children) {
    row.classList.toggle("selected", row.dataset.runId === runId);
  }
  stream = { runId, controller: new AbortController(), lastId: null, ended: false };
  follow(stream, epoch);
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Read the run's events until its `run_end`, reconnecting with Last-Event-ID. */
async function follow(followed, mine) {
  const signal = followed.controller.signal;
  const path = `/v1/runs/${encodeURIComponent(followed.runId)}/events`;
  const state = $("events-state");
  while (!followed.ended && !signal.aborted && mine === epoch) {
    const headers = { ...authHeaders(), Accept: "text/event-stream" };
    if (followed.lastId !== null) headers["Last-Event-ID"] = followed.lastId;
    try {
      const init = { headers, signal, cache: "no-store", credentials: "omit" };
      const response = await fetch(path, init);
      if (!response.ok) {
        let detail = response.statusText;
        try {
          detail = (await response.json()).detail || detail;
        } catch {
          // not JSON: the status text says it
        }
        setText(state, `cannot read the events: ${response.status} ${detail}`);
        if (response.status >= 400 && response.status < 500 && response.status !== 429) return;
      } else {
        setText(state, followed.lastId === null ? "following" : "following (resumed)");
        state.dataset.state = "following";
        await readEvents(response.body, (event) => showEvent(followed, event));
      }
    } catch (error) {
      if (signal.aborted) return;
      setText(state, `the stream broke: ${error.message || error}`);
    }
    if (followed.ended || signal.aborted) break;
    state.dataset.state = "reconnecting";
    setText(state, "reconnecting…");
    await sleep(RECONNECT_MS, signal);
  }
}

/** Server-sent events from `body` (a ReadableStream), each as {id, type, data}. */
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let fields = { id: null, type: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf("\n");
    while (end >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
      end = buffer.indexOf("\n");
      if (line === "") {
        if (fields.data.length > 0) onEvent({ ...fields, data: fields.data.join("\n") });
        fields = { id: null, type: "message", data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // a comment (keep-alive)
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (name === "id") fields.id = value;
      else if (name === "event") fields.type = value;
      else if (name === "data") fields.data.push(value);
    }
  }
}

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

function findingChecks(findings) {
  return Array.isArray(findings) ? findings.map((f) => text(f && f.check)).join(" ") : "";
}

// What one event says, in a few words, by type (anything else: its JSON).
const DESCRIBE = {
  session_started: (d) => `${text(d.task)} (policy ${text(d.policy)}, ${text(d.model)})`,
  text_delta: (d) => text(d.text),
  tool_call: (d) => {
    const input = d.input && typeof d.input === "object" ? d.input : {};
    const what = input.command ?? input.file_path ?? input.pattern ?? JSON.stringify(input);
    return `${text(d.name)}: ${text(what)}`;
  },
  verdict: (d) => `${text(d.decision)} (risk ${text(d.risk)}) ${findingChecks(d.findings)}`,
  approval: (d) => {
    const why = d.reason ? `: ${text(d.reason)}` : "";
    return `${d.approved ? "approved" : "denied"} by ${text(d.by)}${why}`;
  },
  exec_output: (d) => text(d.data),
  tool_result: (d) => `${d.is_error ? "error" : "ok"}: ${text(d.content)}`,
  usage: (d) => `${text(d.input_tokens)} in, ${text(d.output_tokens)} out`,
  error: (d) => text(d.message),
  done: (d) => `${text(d.outcome)} after ${text(d.turns)} turns`,
  approval_requested: (d) =>
    `${text(d.command)} (risk ${text(d.risk)}) ${findingChecks(d.findings)}`,
  run_state: (d) => `${text(d.state)}${d.reason ? `: ${text(d.reason)}` : ""}`,
  run_end: (d) => `${text(d.state)}${d.outcome ? ` (${text(d.outcome)})` : ""}`,
  context: (d) => `${text(d.total)} of ${text(d.window)} tokens`,
  compaction: (d) => `${text(d.kind)}: ${text(d.tokens_before)} to ${text(d.tokens_after)} tokens`,
  verify: (d) => `${d.passed ? "passed" : "failed"}: ${text(d.command)}`,
  egress: (d) => `${text(d.decision)} ${text(d.method)} ${text(d.host)}:${text(d.port)}`,
};
const COMMON = new Set(["type", "session_id", "agent"]); // left out of the JSON fallback

// Consecutive events of these types with the same key are one line.
const MERGED = {
  text_delta: (d) => text(d.agent),
  exec_output: (d) => `${text(d.call_id)} ${text(d.stream)}`,
};

function describe(type, data) {
  if (data === null || typeof data !== "object") return text(data);
  try {
    const describer = Object.hasOwn(DESCRIBE, type) ? DESCRIBE[type] : null;
    if (describer) return describer(data);
    const own = Object.entries(data).filter(([name]) => !COMMON.has(name));
    return JSON.stringify(Object.fromEntries(own));
  } catch {
    return JSON.stringify(data);
  }
}

const fullText = new WeakMap(); // an event line -> all the text merged into it

function showEvent(followed, event) {
  if (event.id !== null) followed.lastId = event.id;
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    data = event.data;
  }
  const list = $("events");
  const said = describe(event.type, data);
  const key =
    Object.hasOwn(MERGED, event.type) && data && typeof data === "object"
      ? MERGED[event.type](data)
      : null;
  const agent = data && typeof data === "object" ? text(data.agent) : "";
  const label = agent && agent !== "main" ? `${event.type} (${agent})` : event.type;
  const last = list.lastElementChild;
  if (key !== null && last && last.dataset.type === event.type && last.dataset.key === key) {
    const merged = fullText.get(last) + said;
    fullText.set(last, merged);
    setText(last.querySelector(".text"), short(merged));
    last.dataset.eventId = text(event.id);
  } else {
    const line = el(
      "li",
      { "data-testid": "event", "data-type": event.type, "data-event-id": text(event.id) },
      el("span", { class: "type" }, label),
      el("span", { class: "text" }, short(said)),
    );
    if (key !== null) line.dataset.key = key;
    fullText.set(line, said);
    list.append(line);
    while (list.children.length > MAX_EVENT_LINES) list.firstElementChild.remove();
  }
  if (event.type === "run_end") {
    followed.ended = true;
    const state = $("events-state");
    state.dataset.state = "ended";
    setText(state, `ended: ${short(said)}`);
  }
}

// -- approvals ---------------------------------------------------------------------------

async function refreshApprovals(mine) {
  const listed = await api("GET", "/v1/approvals?state=pending");
  if (mine !== epoch) return;
  const box = $("approvals");
  const before = new Map([...box.children].map((card) => [card.dataset.approvalId, card]));
  const cards = [];
  for (const approval of listed.items || []) {
    const id = String(approval.id);
    cards.push(before.get(id) || approvalCard(approval)); // a kept card keeps what was typed
  }
  box.replaceChildren(...cards);
  showEmpty();
}

let cardCount = 0;

function approvalCard(approval) {
  cardCount += 1;
  const id = String(approval.id);
  const risk = text(approval.risk);
  const riskText = `risk ${risk}`;
  const onId = `allow-prefix-on-${cardCount}`;
  const prefixOn = el("input", { type: "checkbox", id: onId, "data-testid": "allow-prefix-on" });
  const prefix = el("input", {
    type: "text",
    "data-testid": "allow-prefix",
    spellcheck: "false",
    autocomplete: "off",
    placeholder: "e.g. git push",
    "aria-label": "command prefix",
  });
  prefix.addEventListener("input", () => {
    prefixOn.checked = prefix.value.trim() !== "";
  });
  const button = (name, label) =>
    el("button", { type: "button", "data-testid": name, class: name }, label);
  const approve = button("approve", "Approve");
  const deny = button("deny", "Deny");
  const findings = el("ul", { class: "findings" });
  for (const finding of Array.isArray(approval.findings) ? approval.findings : []) {
    const f = finding && typeof finding === "object" ? finding : {};
    findings.append(
      el(
        "li",
        { "data-testid": "finding" },
        el("code", { class: "check" }, text(f.check)),
        " ",
        el("span", { class: "title" }, text(f.title)),
        ": ",
        el("span", { class: "detail" }, text(f.detail)),
      ),
    );
  }
  const card = el(
    "article",
    { "data-testid": "approval", "data-approval-id": id, "data-run-id": text(approval.run_id) },
    el(
      "header",
      {},
      el("span", { class: "risk", "data-risk": risk, "data-testid": "approval-risk" }, riskText),
      " ",
      el("span", { class: "tool" }, text(approval.tool)),
      " in run ",
      el("code", { "data-testid": "approval-run" }, text(approval.run_id)),
    ),
    el("pre", { class: "command", "data-testid": "approval-command" }, text(approval.command)),
    findings,
    el(
      "div",
      { class: "decide" },
      approve,
      deny,
      el(
        "label",
        { for: onId, class: "prefix" },
        prefixOn,
        " allow for the rest of this run: commands starting with ",
      ),
      prefix,
    ),
  );
  approve.addEventListener("click", () => decide(card, "allow", prefixOn, prefix));
  deny.addEventListener("click", () => decide(card, "deny", prefixOn, prefix));
  setDecidable(card);
  return card;
}

function setDecidable(card) {
  const may = role === null || APPROVER_ROLES.has(role);
  for (const button of card.querySelectorAll("button")) {
    button.disabled = !may || card.dataset.deciding === "yes";
    button.title = may ? "" : `the role ${role} may not answer approvals`;
  }
}

async function decide(card, decision, prefixOn, prefix) {
  const id = card.dataset.approvalId;
  const body = { decision, reason: REASON };
  if (decision === "allow" && prefixOn.checked) {
    const words = prefix.value.trim();
    if (!words) {
      status("Type the words the allowed commands start with, or untick the box.", true);
      return;
    }
    body.allow_prefix = words;
  }
  card.dataset.deciding = "yes";
  setDecidable(card);
  const mine = epoch;
  try {
    const answered = await api("POST", `/v1/approvals/${encodeURIComponent(id)}`, body);
    if (mine !== epoch) return;
    card.remove();
    const verb = text(answered.state) === "allowed" ? "Approved" : "Denied";
    status(`${verb}: ${short(answered.command)}`);
  } catch (error) {
    if (mine !== epoch) return;
    if (error instanceof ApiError && error.status === 409) {
      card.remove();
      status(`No longer pending: ${error.detail}`, true);
    } else {
      delete card.dataset.deciding;
      setDecidable(card);
      report(error);
    }
  }
  showEmpty();
}

// -- start -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("token-use").addEventListener("click", useToken);
  $("token-forget").addEventListener("click", forgetToken);
  $("token").addEventListener("keydown", (event) => {
    if (event.key === "Enter") useToken();
  });
  restart();
  poll(refreshRuns, RUNS_EVERY_MS);
  poll(refreshApprovals, APPROVALS_EVERY_MS);
});

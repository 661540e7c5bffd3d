// Podium's console: renders each page from the gateway's JSON API and follows a goal over
// its SSE stream. No library, no build step; everything it loads comes from the gateway.
"use strict";

const config = JSON.parse(document.body.dataset.config);
const main = document.getElementById("main");
const keyInput = document.getElementById("api-key");
keyInput.value = sessionStorage.getItem("podium-key") || "";
keyInput.addEventListener("change", () => {
  sessionStorage.setItem("podium-key", keyInput.value.trim());
  location.reload();
});

function headers(extra) {
  const key = sessionStorage.getItem("podium-key");
  return Object.assign(key ? { Authorization: `Bearer ${key}` } : {}, extra || {});
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const response = await fetch(path, opts);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = (body.error && body.error.message) || response.statusText;
    throw new Error(`${response.status}: ${error}`);
  }
  return body;
}

// Elements: el("td", {class: "x"}, "text", child...)
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function age(iso) {
  if (!iso) return "-";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit}`;
  }
  return `${Math.floor(seconds)}s`;
}

function seconds(value) {
  return value < 60 ? `${Math.round(value)}s` : age(new Date(Date.now() - value * 1000).toISOString());
}

function badge(status) {
  return el("span", { class: `badge st-${status}` }, status);
}

function showError(where, error) {
  where.replaceChildren(el("p", { class: "error" }, String(error.message || error)));
}

// ---- goals list -------------------------------------------------------------------------
const STATUSES = ["queued", "planning", "running", "waiting_approval", "completed", "failed"];

function goalsPage() {
  const state = { status: "", q: "", before: null, pages: [] };
  const status = el("select", { id: "filter-status" }, el("option", { value: "" }, "any status"),
    STATUSES.map((name) => el("option", { value: name }, name)));
  const search = el("input", { id: "search", type: "search", placeholder: "search goals" });
  const text = el("textarea", { id: "goal-text", rows: 2, placeholder: "a goal to run" });
  const submitted = el("span", { id: "submitted" });
  const form = el("form", { id: "submit-goal", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const body = await api("/goals", { method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ goal: text.value }) });
      location.href = `/console/goals/${body.goal_id}`;
    } catch (error) { submitted.textContent = error.message; }
  } }, text, el("button", { type: "submit" }, "Submit"), submitted);
  const table = el("tbody", { id: "goals" });
  const pager = el("div", { class: "pager" });
  main.replaceChildren(el("h1", {}, "Goals"), form,
    el("div", { class: "controls" }, status, search),
    el("table", {}, el("thead", {}, el("tr", {}, ["Goal", "Status", "Age", "Tokens", "Updated"]
      .map((name) => el("th", {}, name)))), table), pager);

  async function load() {
    const query = new URLSearchParams({ limit: "20" });
    if (state.status) query.set("status", state.status);
    if (state.q) query.set("q", state.q);
    if (state.before) query.set("before", state.before);
    try {
      const body = await api(`/console/api/goals?${query}`);
      table.replaceChildren(...body.goals.map((goal) => el("tr", { "data-goal": goal.goal_id },
        el("td", {}, el("a", { href: `/console/goals/${goal.goal_id}` }, goal.goal || goal.goal_id),
          goal.run > 1 ? el("span", { class: "muted" }, ` run ${goal.run}`) : ""),
        el("td", {}, badge(goal.status)), el("td", {}, age(goal.submitted_at)),
        el("td", { class: "num" }, goal.tokens), el("td", {}, age(goal.updated_at)))));
      if (!body.goals.length) table.replaceChildren(el("tr", {}, el("td", { colspan: 5 }, "no goals")));
      pager.replaceChildren(
        state.pages.length ? el("button", { onclick: () => { state.before = state.pages.pop(); load(); } }, "newer") : "",
        body.next ? el("button", { id: "older", onclick: () => {
          state.pages.push(state.before); state.before = body.next; load();
        } }, "older") : "");
    } catch (error) { showError(table, error); }
  }
  status.addEventListener("change", () => { state.status = status.value; state.before = null; state.pages = []; load(); });
  search.addEventListener("input", () => { state.q = search.value.trim(); state.before = null; state.pages = []; load(); });
  load();
  setInterval(load, 2000); // live
}

// ---- a goal: graph, timeline, answer, totals, cancel and rerun --------------------------
const TERMINAL = new Set(["GoalCompleted", "GoalFailed"]);

function layout(tasks) {
  const byId = new Map(tasks.map((task) => [task.task_id, task]));
  const level = new Map();
  function depth(task, seen) {
    if (level.has(task.task_id)) return level.get(task.task_id);
    if (seen.has(task.task_id)) return 0;
    seen.add(task.task_id);
    const deps = dependencies(task, tasks).map((id) => byId.get(id)).filter(Boolean);
    const found = deps.length ? 1 + Math.max(...deps.map((dep) => depth(dep, seen))) : 0;
    level.set(task.task_id, found);
    return found;
  }
  tasks.forEach((task) => depth(task, new Set()));
  const columns = [];
  for (const task of tasks) (columns[level.get(task.task_id)] ||= []).push(task);
  const place = new Map();
  columns.forEach((column, x) => column.forEach((task, y) => place.set(task.task_id, { x, y })));
  return { place, width: columns.length, height: Math.max(1, ...columns.map((c) => c.length)) };
}

function dependencies(task, tasks) {
  if (task.final && !task.depends_on.length) {
    return tasks.filter((other) => !other.final && !other.parent_id).map((other) => other.task_id);
  }
  const prefix = task.task_id.slice(0, task.task_id.lastIndexOf(".") + 1);
  return task.depends_on.map((id) => (id.includes(".") ? id : prefix + id));
}

function localId(taskId) {
  return taskId.split(".").slice(3).join(".") || taskId;
}

function drawGraph(goal) {
  const tasks = goal.tasks;
  if (!tasks.length) return el("p", { class: "muted" }, "no plan yet");
  const W = 130, H = 54, GX = 40, GY = 18;
  const { place, width, height } = layout(tasks);
  const root = svg("svg", { id: "graph", width: width * (W + GX), height: height * (H + GY),
    role: "img", "aria-label": "the plan's tasks and their dependencies" });
  const at = (id) => place.get(id);
  for (const task of tasks) {
    for (const dep of dependencies(task, tasks)) {
      const from = at(dep), to = at(task.task_id);
      if (!from || !to) continue;
      root.append(svg("line", { class: "edge", x1: from.x * (W + GX) + W, y1: from.y * (H + GY) + H / 2,
        x2: to.x * (W + GX), y2: to.y * (H + GY) + H / 2, "marker-end": "url(#arrow)" }));
    }
  }
  root.prepend(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 6, markerHeight: 6, orient: "auto" }, svg("path", { d: "M0,0 L10,5 L0,10 z" }))));
  for (const task of tasks) {
    const { x, y } = at(task.task_id);
    const retried = task.attempts > 1 ? " retried" : "";
    const node = svg("g", { class: `node st-${task.status}${retried}`, "data-task": task.task_id,
      "data-status": task.status, transform: `translate(${x * (W + GX)},${y * (H + GY)})`, tabindex: 0 },
      svg("rect", { width: W, height: H, rx: 6 }),
      svg("text", { x: 8, y: 20 }, `${localId(task.task_id)} · ${task.type}`),
      svg("text", { x: 8, y: 40, class: "sub" },
        `${task.status}${task.attempts > 1 ? ` (attempt ${task.attempts})` : ""}`));
    node.addEventListener("click", () => showTask(task.task_id));
    root.append(node);
  }
  return root;
}

let current = { goal: null, events: [], open: null, prompts: new Map() };

// The messages the task's worker sent for its latest attempt, computed by the gateway with
// the worker's own code; fetched once per attempt.
function promptOf(task) {
  const key = `${task.task_id}#${task.attempts}`;
  if (!current.prompts.has(key)) {
    const query = new URLSearchParams({ task: task.task_id });
    const asked = api(`/console/api/goals/${current.goal.goal_id}/prompt?${query}`);
    asked.catch(() => current.prompts.delete(key));
    current.prompts.set(key, asked);
  }
  return current.prompts.get(key);
}

function showTask(taskId) {
  current.open = taskId;
  const task = current.goal.tasks.find((one) => one.task_id === taskId);
  const assigned = current.events.filter((e) => e.type === "TaskAssigned" && e.data.task_id === taskId);
  const results = current.events.filter((e) => e.type === "TaskResult" && e.data.task_id === taskId);
  const latest = assigned[assigned.length - 1];
  const inputs = latest ? latest.data.inputs || [] : [];
  const prompt = el("div", { id: "task-prompt" }, el("p", { class: "muted" }, "not sent yet"));
  if (task.attempts > 0) {
    promptOf(task).then((sent) => prompt.replaceChildren(...sent.messages.map((message) =>
      el("details", { "data-role": message.role, open: message.role === "user" ? "" : null }, el("summary", {}, `${message.role} (attempt ${sent.attempt})`),
        el("pre", {}, message.content)))), (error) => showError(prompt, error));
  }
  const panel = document.getElementById("task");
  panel.replaceChildren(el("h2", {}, `Task ${localId(taskId)}`, " ", badge(task.status)),
    el("dl", {},
      el("dt", {}, "type"), el("dd", {}, task.type),
      el("dt", {}, "description"), el("dd", { id: "task-description" }, task.description),
      el("dt", {}, "model"), el("dd", {}, task.model || "-"),
      el("dt", {}, "tokens"), el("dd", {}, `${task.tokens.prompt} in, ${task.tokens.completion} out`),
      el("dt", {}, "latency"), el("dd", {}, task.latency_ms === null ? "-" : `${task.latency_ms} ms`),
      el("dt", {}, "feedback"), el("dd", {}, (latest && latest.data.feedback) || "-")),
    el("h3", {}, "Inputs from dependencies"),
    inputs.length ? inputs.map((input) => el("details", {}, el("summary", {}, localId(input.task_id || "")),
      el("pre", {}, input.output || JSON.stringify(input)))) : el("p", { class: "muted" }, "none"),
    el("h3", {}, "Prompt sent"), prompt,
    el("h3", {}, "Attempts"),
    el("table", { id: "attempts" }, el("tr", {}, ["#", "status", "worker", "latency", "error"].map((h) => el("th", {}, h))),
      results.map((r) => el("tr", {}, el("td", {}, r.data.attempt), el("td", {}, badge(r.data.status)),
        el("td", {}, r.data.worker_id), el("td", {}, `${r.data.latency_ms} ms`),
        el("td", {}, r.data.error ? `${r.data.error.kind}: ${r.data.error.message}` : "")))),
    el("h3", {}, "Output"), el("pre", { id: "task-output" }, task.output || "(none yet)"));
  panel.hidden = false;
}

function describe(event) {
  const d = event.data;
  const task = d.task_id ? `${localId(d.task_id)} ` : "";
  switch (event.type) {
    case "GoalSubmitted": return `submitted: ${d.goal}`;
    case "PlanCreated": return `planned ${d.tasks.length} tasks`;
    case "TaskAssigned": return `${task}dispatched (attempt ${d.attempt})`;
    case "TaskResult": return `${task}${d.status} (attempt ${d.attempt}, ${d.worker_id})`;
    case "GoalFailed": return `failed: ${d.kind}: ${d.reason}`;
    default: return `${task}${event.type}`;
  }
}

async function follow(goalId, onEvent) {
  // The SSE stream, read with fetch so that it can carry the API key.
  let last = "";
  for (;;) {
    const response = await fetch(`/goals/${goalId}/events`,
      { headers: headers(last ? { "Last-Event-ID": last } : {}) });
    if (!response.ok) throw new Error(`events: ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "", ended = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0 || (cut = buffer.indexOf("\r\n\r\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + (buffer[cut] === "\r" ? 4 : 2));
        const event = { type: "message", data: "" };
        for (const line of block.split(/\r?\n/)) {
          const [field, ...rest] = line.split(":");
          const text = rest.join(":").replace(/^ /, "");
          if (field === "event") event.type = text;
          else if (field === "data") event.data += text;
          else if (field === "id") last = text;
        }
        if (!event.data) continue;
        event.data = JSON.parse(event.data);
        onEvent(event);
        ended ||= TERMINAL.has(event.type);
      }
    }
    if (ended) return;
  }
}

function goalPage(goalId) {
  const status = el("span", { id: "goal-status" });
  const graph = el("div", { class: "graph" });
  const timeline = el("ol", { id: "timeline" });
  const answer = el("pre", { id: "answer" });
  const totals = el("p", { id: "totals" });
  const notice = el("p", { id: "notice" });
  const trace = el("span", { id: "trace" });
  const title = el("h1", { id: "goal-title" }, goalId);
  const cancel = el("button", { id: "cancel", onclick: async () => {
    try {
      await api(`/goals/${goalId}`, { method: "DELETE" });
      notice.textContent = "cancelling";
    } catch (error) { notice.textContent = error.message; }
  } }, "Cancel");
  const rerun = el("button", { id: "rerun", onclick: async () => {
    try { // the goal's next run: this page then follows it
      await api(`/goals/${goalId}/rerun`, { method: "POST" });
      location.reload();
    } catch (error) { notice.textContent = error.message; }
  } }, "Run again");
  main.replaceChildren(title, el("p", {}, status, " ", cancel, " ", rerun, " ", trace), notice,
    el("div", { class: "columns" }, el("section", {}, el("h2", {}, "Plan"), graph,
      el("h2", {}, "Answer"), answer, totals),
    el("section", {}, el("aside", { id: "task", hidden: true }), el("h2", {}, "Timeline"), timeline)));

  let pending = null;
  async function refresh() {
    pending = null;
    try {
      const goal = await api(`/goals/${goalId}`);
      current.goal = goal;
      title.textContent = goal.goal || goalId;
      status.replaceChildren(el("span", { id: "goal-run" }, `run ${goal.run}`), " ", badge(goal.status), goal.reason ? ` ${goal.reason.kind}: ${goal.reason.message}` : "");
      graph.replaceChildren(drawGraph(goal));
      answer.textContent = goal.output || "(none yet)";
      const t = goal.totals;
      totals.textContent = `${t.tasks} tasks, ${t.succeeded} succeeded, ${t.failed} failed; ` +
        `${t.prompt_tokens} tokens in, ${t.completion_tokens} out; ${(t.wall_ms / 1000).toFixed(1)} s`;
      const ended = goal.status === "completed" || goal.status === "failed";
      cancel.disabled = ended;
      rerun.disabled = !ended;
      if (current.open) showTask(current.open);
    } catch (error) { showError(notice, error); }
  }
  const schedule = () => { pending ||= setTimeout(refresh, 150); };
  refresh();
  follow(goalId, (event) => {
    current.events.push(event);
    if (event.type === "GoalSubmitted" && config.traceUrl && event.data.trace) {
      const traceId = event.data.trace.traceparent.split("-")[1];
      trace.replaceChildren(el("a", { id: "trace-link", href: config.traceUrl.replace("{trace_id}", traceId) }, "trace"));
    }
    timeline.append(el("li", { "data-type": event.type },
      el("time", {}, new Date(event.data.occurred_at).toLocaleTimeString()), " ", describe(event)));
    schedule();
  }).then(schedule).catch((error) => showError(notice, error));
}

// ---- dead letters and workers -----------------------------------------------------------
function deadLettersPage() {
  const body = el("tbody", { id: "letters" });
  const notice = el("p", { id: "notice" });
  main.replaceChildren(el("h1", {}, "Dead letters"), notice, el("table", {}, el("thead", {}, el("tr", {},
    ["Topic", "Letter", "Key", "Error", "From", "Age", ""].map((h) => el("th", {}, h)))), body));
  async function load() {
    try {
      const { letters } = await api("/console/api/deadletters");
      body.replaceChildren(...letters.map((letter) => el("tr", { "data-letter": `${letter.topic}/${letter.partition}/${letter.offset}` },
        el("td", {}, letter.topic), el("td", {}, `[${letter.partition}]@${letter.offset}`),
        el("td", {}, letter.key || "-"),
        el("td", {}, el("b", {}, letter.error_kind || "?"), " ", letter.error_message || ""),
        el("td", {}, letter.source), el("td", {}, seconds(letter.age_s)),
        el("td", {}, el("button", { class: "redrive", onclick: async () => {
          try {
            const done = await api("/console/api/deadletters/redrive", { method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ topic: letter.topic, partition: letter.partition, offset: letter.offset }) });
            notice.textContent = `re-driven ${done.redriven} letter from ${letter.topic}[${letter.partition}]@${letter.offset}`;
          } catch (error) { notice.textContent = error.message; }
        } }, "Re-drive")))));
      if (!letters.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 7 }, "no dead letters")));
    } catch (error) { showError(notice, error); }
  }
  load();
}

function workersPage() {
  const body = el("tbody", { id: "workers" });
  const notice = el("p", { id: "notice" });
  main.replaceChildren(el("h1", {}, "Workers"), notice, el("table", {}, el("thead", {}, el("tr", {},
    ["State", "Service", "Worker", "Host", "Version", "In flight", "Last beat", "Group lag", "Partitions"]
      .map((h) => el("th", {}, h)))), body));
  async function load() {
    try {
      const { workers } = await api("/console/api/workers");
      body.replaceChildren(...workers.map((w) => el("tr", { class: `w-${w.state}` },
        el("td", {}, badge(w.state)), el("td", {}, w.service), el("td", {}, w.worker_id),
        el("td", {}, w.host || "-"), el("td", {}, w.version), el("td", { class: "num" }, w.in_flight),
        el("td", {}, `${seconds(w.age_s)} ago`), el("td", { class: "num" }, w.lag ?? "?"),
        el("td", {}, (w.partitions || []).join(", ") || "-"))));
    } catch (error) { showError(notice, error); }
  }
  load();
  setInterval(load, 3000);
}

({ goals: goalsPage, goal: () => goalPage(config.params.goal_id), deadletters: deadLettersPage,
  workers: workersPage })[config.page]();

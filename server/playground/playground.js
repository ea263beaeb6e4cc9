// The playground: one page that talks to this server's /v1/chat/completions.
// Plain ES module, no build step and no CDN (the server may have no internet).
// SSE is parsed by hand: the server sends `data: ...` events separated by "\n\n".

const $ = (id) => document.getElementById(id);
const history = [];  // {role, content}: answers only; thinking is never sent back
let inFlight = null;  // the AbortController of the running request

function numberOrNull(id) {
  const value = $(id).value.trim();
  return value === "" ? null : Number(value);
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

function requestBody() {
  const messages = [];
  const system = $("system").value.trim();
  if (system) messages.push({ role: "system", content: system });
  const body = {
    messages: messages.concat(history), stream: true,
    stream_options: { include_usage: true },
    temperature: numberOrNull("temperature") ?? 0,
    max_tokens: numberOrNull("max-tokens") ?? 1000,
  };
  if ($("effort").value) body.reasoning_effort = $("effort").value;
  const budget = {};
  const min = numberOrNull("min-thinking"), max = numberOrNull("max-thinking");
  const waits = numberOrNull("max-waits"), waitText = $("wait-text").value;
  if (min) budget.min_thinking_tokens = min;
  if (max) budget.max_thinking_tokens = max;
  if (waits !== null) budget.max_waits = waits;
  if (waitText.trim()) budget.wait_text = waitText;
  if (Object.keys(budget).length) body.budget_forcing = budget;
  return body;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function addUserTurn(text) {
  const turn = element("article", "turn user");
  turn.append(element("div", "role", "You"), element("div", "answer", text));
  $("conversation").append(turn);
}

function addAssistantTurn() {
  const turn = element("article", "turn assistant");
  const thinking = element("details", "thinking");
  thinking.open = true;
  const summary = element("summary", "", "Thinking…");
  const thinkingText = element("div", "text");
  thinking.append(summary, thinkingText);
  const answer = element("div", "answer");
  const stats = element("div", "stats");
  turn.append(element("div", "role", "Assistant"), thinking, answer, stats);
  $("conversation").append(turn);
  return { turn, thinking, summary, thinkingText, answer, stats, pending: [], flushTimer: null,
    foldNow: false };
}

function showError(view, message) {
  flush(view);
  view.thinking.hidden = view.thinkingText.textContent === "";
  view.answer.append(element("div", "error", message));
}

// One stream, read to its end: reasoning and content deltas, the usage chunk, errors.
async function readStream(response, view, clock) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let usage = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;  // ": ping" keep-alives
        const data = line.slice(6);
        if (data === "[DONE]") return usage;
        const chunk = JSON.parse(data);
        if (chunk.error) { showError(view, chunk.error.message); continue; }
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices || []) onDelta(choice.delta || {}, view, clock);
      }
    }
  }
  return usage;
}

// Deltas arrive by the hundred per second: they are queued and drawn together every
// FLUSH_MS, text appended to the last text node, so the page stays responsive however
// long the thinking runs (one DOM change and one layout per delta froze it).
const FLUSH_MS = 50;

function appendText(parent, text) {
  const last = parent.lastChild;
  if (last && last.nodeType === Node.TEXT_NODE) last.appendData(text);
  else parent.append(text);
}

function flush(view) {
  view.flushTimer = null;
  for (const [kind, text, budgetEvent] of view.pending.splice(0)) {
    if (kind === "content") { appendText(view.answer, text); continue; }
    if (budgetEvent) {
      const label = budgetEvent === "wait" ? "inserted wait" : "forced close";
      const mark = element("mark", `inserted ${budgetEvent}`, `[${label}] ${text}`);
      mark.title = "inserted by budget forcing";
      view.thinkingText.append(mark);
    } else {
      appendText(view.thinkingText, text);
    }
  }
  if (view.foldNow) {
    view.foldNow = false;
    view.thinking.open = false;  // fold the thinking when the answer starts
  }
  view.thinkingText.scrollTop = view.thinkingText.scrollHeight;  // follow the stream
}

function queue(view, item) {
  view.pending.push(item);
  view.flushTimer ??= setTimeout(() => flush(view), FLUSH_MS);
}

function onDelta(delta, view, clock) {
  const now = performance.now();
  const thought = delta.reasoning_content ?? delta.reasoning;
  if (thought) {
    clock.firstToken ??= now;
    queue(view, ["thinking", thought, delta.budget_event]);
  }
  if (delta.content) {
    clock.firstToken ??= now;
    if (clock.firstAnswer === undefined) {
      clock.firstAnswer = now;
      view.foldNow = true;
      view.summary.textContent = `Thought for ${((now - clock.start) / 1000).toFixed(1)} s (click to unfold)`;
    }
    queue(view, ["content", delta.content]);
  }
}

function seconds(ms) { return ms === undefined ? "–" : `${(ms / 1000).toFixed(2)} s`; }

function showStats(view, clock, usage) {
  const parts = [`first token ${seconds(clock.firstToken && clock.firstToken - clock.start)}`,
    `first answer token ${seconds(clock.firstAnswer && clock.firstAnswer - clock.start)}`];
  if (usage) {
    const reasoning = usage.completion_tokens_details?.reasoning_tokens ?? 0;
    parts.push(`reasoning ${reasoning} tokens`, `answer ${usage.completion_tokens - reasoning} tokens`);
    if (usage.budget_forcing) {
      parts.push(`waits ${usage.budget_forcing.waits_inserted}`,
        `forced close ${usage.budget_forcing.forced_closes ? "yes" : "no"}`);
    }
  }
  view.stats.textContent = parts.join(" · ");
  if (clock.firstAnswer === undefined && view.thinkingText.textContent) {
    view.summary.textContent = "Thinking (no answer)";
  }
}

async function send(event) {
  event?.preventDefault();
  const text = $("message").value.trim();
  if (!text || inFlight) return;
  $("message").value = "";
  history.push({ role: "user", content: text });
  addUserTurn(text);
  const view = addAssistantTurn();
  const clock = { start: performance.now() };
  const controller = new AbortController();
  inFlight = controller;
  setBusy(true);
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), body: JSON.stringify(requestBody()),
      signal: controller.signal,
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const why = body.error?.message ?? response.statusText;
      const hint = response.status === 401 ? " (enter the server's API key in Settings)" : "";
      showError(view, `${response.status}: ${why}${hint}`);
      history.pop();
      return;
    }
    const usage = await readStream(response, view, clock);
    flush(view);
    showStats(view, clock, usage);
    history.push({ role: "assistant", content: view.answer.textContent });
  } catch (error) {
    flush(view);
    if (error.name === "AbortError") {
      view.stats.textContent = "stopped";
      view.turn.classList.add("stopped");
    } else {
      showError(view, String(error));
    }
    history.pop();
  } finally {
    if (inFlight === controller) {  // "New chat" may have started another already
      inFlight = null;
      setBusy(false);
    }
  }
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
  document.body.dataset.busy = busy ? "1" : "";
}

async function showModel() {
  try {
    const response = await fetch("/v1/models", { headers: headers() });
    if (response.ok) $("model-name").textContent = (await response.json()).data[0].id;
  } catch { /* the name is decoration */ }
}

$("composer").addEventListener("submit", send);
$("message").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) send(e);
});
$("stop").addEventListener("click", () => inFlight?.abort());
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && inFlight) inFlight.abort();  // Stop, from the keyboard
});
$("clear").addEventListener("click", () => {
  inFlight?.abort();
  inFlight = null;
  setBusy(false);
  history.length = 0;
  $("conversation").replaceChildren();
});
$("api-key").addEventListener("change", showModel);
showModel();

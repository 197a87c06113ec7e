// leitstand web page: ask a question, stream the answer, show its sources and the exact passages.
// Server and document text is only ever inserted with textContent, never as HTML.
"use strict";

// Every user-facing text: key: [German, English].
const TEXTS = {
  title: ["leitstand – Fragen an Ihre Dokumente", "leitstand – ask your documents"],
  tagline: ["Antworten mit Quellen aus Ihren Dokumenten", "Answers with sources from your documents"],
  heading: ["Fragen an Ihre Dokumente", "Ask your documents"],
  language: ["Sprache", "Language"],
  questionLabel: ["Ihre Frage", "Your question"],
  questionPlaceholder: ["z. B. Wie lange gilt die Garantie auf Ersatzteile?", "e.g. How long is the warranty on spare parts?"],
  questionHint: ["Enter sendet · Umschalt+Enter: neue Zeile", "Enter sends · Shift+Enter: new line"],
  useCaseLabel: ["Anwendungsfall", "Use case"],
  ask: ["Fragen", "Ask"],
  stop: ["Abbrechen", "Cancel"],
  empty: ["Stellen Sie eine Frage. Jede Antwort nennt die Stellen in Ihren Dokumenten, auf die sie sich stützt.", "Ask a question. Every answer names the places in your documents it is based on."],
  answerTitle: ["Antwort", "Answer"],
  noAnswerTitle: ["Keine Antwort gefunden", "No answer found"],
  noAnswerHint: ["In den indexierten Dokumenten steht dazu nichts Passendes. Formulieren Sie die Frage anders oder prüfen Sie, ob das Dokument indexiert ist.", "The indexed documents contain nothing that answers this. Rephrase the question or check that the document has been indexed."],
  searching: ["Durchsuche die Dokumente …", "Searching the documents …"],
  writing: ["Antwort wird geschrieben …", "Writing the answer …"],
  stopped: ["Abgebrochen", "Cancelled"],
  asked: ["Frage: {question}", "Question: {question}"],
  sourcesTitle: ["Quellen", "Sources"],
  openSource: ["Quelle {n} öffnen", "Open source {n}"],
  page: ["Seite {a}", "page {a}"],
  pages: ["Seiten {a}–{b}", "pages {a}–{b}"],
  chars: ["Zeichen {a}–{b}", "characters {a}–{b}"],
  passageTitle: ["Fundstelle", "Passage"],
  close: ["Schließen", "Close"],
  fileLabel: ["Datei", "File"],
  locationLabel: ["Stelle", "Location"],
  sectionLabel: ["Abschnitt", "Section"],
  loading: ["Lade die Fundstelle …", "Loading the passage …"],
  errorTitle: ["Fehler:", "Error:"],
  errorHttp: ["Der Server antwortete mit Status {status}: {message}", "The server answered with status {status}: {message}"],
  errorStream: ["Die Antwort brach ab: {message}", "The answer broke off: {message}"],
  errorBlocked: [
    "Die Schutzregeln haben diese Anfrage gestoppt ({message}).",
    "The guardrails stopped this request ({message}).",
  ],
  errorLimited: [
    "Zu viele Anfragen – bitte in {retry} s erneut versuchen ({message}).",
    "Too many requests – please try again in {retry} s ({message}).",
  ],
  errorBudget: [
    "Das Budget für diese Anfragen ist aufgebraucht ({message}).",
    "The budget for these requests is spent ({message}).",
  ],
  errorIncomplete: ["Die Antwort brach ohne Abschluss ab. Bitte erneut versuchen.", "The answer ended without finishing. Please try again."],
  errorNetwork: ["Keine Verbindung zum Server ({message}).", "Cannot reach the server ({message})."],
  errorModels: ["Die Anwendungsfälle konnten nicht geladen werden: {message}", "Could not load the use cases: {message}"],
  keyTitle: ["API-Schlüssel erforderlich", "API key required"],
  keyHint: ["Dieser Server beantwortet Fragen nur mit einem API-Schlüssel. Der Schlüssel wird ausschließlich in diesem Browser gespeichert.", "This server only answers with an API key. The key is stored in this browser only."],
  keyLabel: ["API-Schlüssel", "API key"],
  keySave: ["Speichern und erneut versuchen", "Save and retry"],
  keyForget: ["Gespeicherten API-Schlüssel entfernen", "Remove the stored API key"],
  keyServer: ["Meldung des Servers: {message}", "Server message: {message}"],
  ungroundedTitle: ["Nicht durch die Quellen belegt:", "Not supported by the sources:"],
  ungroundedMissing: ["fehlt in den Quellen: {words}", "missing from the sources: {words}"],
  traceLabel: ["Trace-ID der letzten Antwort (für Rückfragen beim Support):", "Trace id of the last answer (quote it when reporting a problem):"],
};

const STORE = { lang: "leitstand.lang", key: "leitstand.apiKey", useCase: "leitstand.useCase" };
const $ = (id) => document.getElementById(id);

const state = {
  lang: initialLanguage(),
  sources: new Map(), // number -> source, from the first and the final chunk of the stream
  retries: [], // requests waiting for an API key
  controller: null, // aborts the answer that is streaming
  passage: null, // the source shown in the side panel
  pending: "", // answer text not yet rendered: it may end in half a citation marker
};

function initialLanguage() {
  const stored = localStorage.getItem(STORE.lang);
  if (stored === "de" || stored === "en") return stored;
  return (navigator.language || "").toLowerCase().startsWith("de") ? "de" : "en";
}

// ---- texts -------------------------------------------------------------------------------------

function t(key, params = {}) {
  const text = TEXTS[key]?.[state.lang === "de" ? 0 : 1] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

// Shows a text from TEXTS and remembers key and parameters, so that a language switch can redo it.
function setText(node, key, params = {}) {
  node.dataset.i18n = key || "";
  node.dataset.i18nParams = JSON.stringify(params);
  node.textContent = key ? t(key, params) : "";
  return node;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function applyTexts() {
  document.documentElement.lang = state.lang;
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) {
    const params = JSON.parse(node.dataset.i18nParams || "{}");
    node.textContent = node.dataset.i18n ? t(node.dataset.i18n, params) : "";
  }
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  for (const node of document.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel, JSON.parse(node.dataset.i18nParams || "{}")));
  }
  for (const button of document.querySelectorAll(".lang-button")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
  }
}

function setLanguage(lang) {
  state.lang = lang;
  localStorage.setItem(STORE.lang, lang);
  applyTexts();
}

// "Seite 3", "pages 3–4" or "Zeichen 120–980", following the page's language.
function setLocation(node, item) {
  if (item.page_start === null || item.page_start === undefined) {
    return setText(node, "chars", { a: item.start_char, b: item.end_char });
  }
  const last = item.page_end ?? item.page_start;
  return setText(node, last === item.page_start ? "page" : "pages", { a: item.page_start, b: last });
}

function showError(key, params = {}) {
  setText($("error-text"), key, params);
  $("error").hidden = !key;
}

// ---- requests and the API key ------------------------------------------------------------------

function api(path, options = {}) {
  const headers = { Accept: "application/json", ...options.headers };
  const key = localStorage.getItem(STORE.key);
  if (key) headers.Authorization = `Bearer ${key}`;
  return fetch(path, { ...options, headers });
}

async function failure(response) {
  let message = response.statusText;
  let code = null;
  try {
    const error = (await response.json()).error;
    message = error?.message || message;
    code = error?.code || null;
  } catch {
    // not JSON: the status text must do
  }
  return { status: response.status, message, code };
}

async function needKey(response, retry) {
  state.retries.push(retry);
  setText($("key-message"), "keyServer", { message: (await failure(response)).message });
  $("key-panel").hidden = false;
  $("api-key").focus();
}

function saveKey(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return;
  localStorage.setItem(STORE.key, key);
  $("api-key").value = "";
  $("key-panel").hidden = true;
  $("forget-key").hidden = false;
  for (const retry of state.retries.splice(0)) retry();
}

// ---- use cases ---------------------------------------------------------------------------------

async function loadModels() {
  let models = [{ id: "extractive", description: "" }];
  try {
    const response = await api("v1/models");
    if (response.status === 401) return needKey(response, loadModels);
    if (response.ok) models = (await response.json()).data;
    else showError("errorModels", await failure(response));
  } catch (err) {
    showError("errorNetwork", { message: err.message });
  }
  const select = $("use-case");
  select.replaceChildren();
  for (const model of models) {
    const option = el("option", "", model.id);
    option.value = model.id;
    option.dataset.description = model.description || "";
    select.append(option);
  }
  const wanted = localStorage.getItem(STORE.useCase);
  if (models.some((model) => model.id === wanted)) select.value = wanted;
  describeUseCase();
}

function describeUseCase() {
  const option = $("use-case").selectedOptions[0];
  $("use-case-description").textContent = option ? option.dataset.description : "";
}

// ---- asking and streaming ----------------------------------------------------------------------

function setBusy(controller) {
  state.controller = controller;
  setText($("ask-button"), controller ? "stop" : "ask");
  $("answer").setAttribute("aria-busy", String(Boolean(controller)));
}

function resetAnswer(question) {
  closePanel();
  state.sources = new Map();
  state.pending = "";
  showError(null);
  $("empty").hidden = true;
  $("answer-card").hidden = false;
  $("answer-card").classList.remove("no-answer");
  setText($("answer-title"), "answerTitle");
  setText($("asked"), "asked", { question });
  $("no-answer-hint").hidden = true;
  $("grounding").hidden = true;
  $("grounding-list").replaceChildren();
  $("answer").replaceChildren();
  renderSources([]);
}

async function ask(question) {
  const controller = new AbortController();
  resetAnswer(question);
  setBusy(controller);
  setText($("status"), "searching");
  try {
    const response = await api("v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({
        model: $("use-case").value || "extractive",
        messages: [{ role: "user", content: question }],
        stream: true,
        footnotes: false,
      }),
      signal: controller.signal,
    });
    if (response.status === 401) return await needKey(response, () => ask(question));
    if (!response.ok) {
      const problem = await failure(response);
      const known = { content_blocked: "errorBlocked", rate_limit_exceeded: "errorLimited", budget_exceeded: "errorBudget" };
      const retry = response.headers.get("Retry-After") || "?";
      return showError(known[problem.code] || "errorHttp", { ...problem, retry });
    }
    setText($("status"), "writing");
    const finished = await readStream(response, handleChunk);
    if (!finished && $("error").hidden) showError("errorIncomplete");
  } catch (err) {
    if (state.controller !== controller) return; // a newer question took over
    if (err.name === "AbortError") return setText($("status"), "stopped");
    showError("errorNetwork", { message: err.message });
  } finally {
    if (state.controller === controller) {
      flushAnswer();
      setBusy(null);
      if (!controller.signal.aborted) setText($("status"), null);
      if (!$("answer").textContent) $("answer-card").hidden = true; // failed before any text
    }
  }
}

// Reads server-sent events; true when the stream ended as it should ([DONE] or an error event).
async function readStream(response, onChunk) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value, { stream: !done }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut).split("\n");
      buffer = buffer.slice(cut + 2);
      const data = event.filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim()).join("\n");
      if (data === "[DONE]") return true;
      if (data && !onChunk(JSON.parse(data))) return true;
    }
    if (done) return false;
  }
}

// One chunk of the stream; false when the stream reported an error.
function handleChunk(chunk) {
  if (chunk.error) {
    const key = chunk.error.code === "content_blocked" ? "errorBlocked" : "errorStream";
    showError(key, { message: chunk.error.message || chunk.error.type });
    return false;
  }
  for (const source of chunk.sources || []) state.sources.set(source.number, source);
  const choice = chunk.choices?.[0];
  if (choice?.delta?.content) appendAnswer(choice.delta.content);
  if (choice?.finish_reason) {
    flushAnswer();
    renderSources(chunk.sources || []); // the sources the answer actually cites
  }
  if (chunk.leitstand) finishAnswer(chunk.leitstand);
  return true;
}

function appendAnswer(text) {
  const marker = /\[(\d+)\]/g;
  const all = state.pending + text;
  let last = 0;
  for (let match; (match = marker.exec(all)); last = marker.lastIndex) {
    appendText(all.slice(last, match.index));
    appendCitation(Number(match[1]), match[0]);
  }
  const rest = all.slice(last);
  const open = rest.search(/\[\d*$/); // "[" or "[1" may become a marker with the next chunk
  appendText(open >= 0 ? rest.slice(0, open) : rest);
  state.pending = open >= 0 ? rest.slice(open) : "";
}

function flushAnswer() {
  appendText(state.pending);
  state.pending = "";
}

function appendText(text) {
  if (text) $("answer").append(text);
}

function appendCitation(number, label) {
  if (!state.sources.has(number)) return appendText(label);
  const link = el("a", "cite", label);
  link.href = `#source-${number}`;
  link.dataset.n = String(number);
  link.dataset.i18nLabel = "openSource";
  link.dataset.i18nParams = JSON.stringify({ n: number });
  link.setAttribute("aria-label", t("openSource", { n: number }));
  $("answer").append(link);
}

function finishAnswer(info) {
  if (info.answered === false) {
    $("answer-card").classList.add("no-answer");
    setText($("answer-title"), "noAnswerTitle");
    $("no-answer-hint").hidden = false;
  }
  $("trace").hidden = !info.trace_id;
  $("trace-id").textContent = info.trace_id || "";
  renderGrounding(info.groundedness);
}

// Sentences of the answer that its sources do not carry, with the words they lack.
function renderGrounding(report) {
  const unsupported = (report?.sentences || []).filter((s) => s.supported === false);
  const list = $("grounding-list");
  list.replaceChildren();
  $("grounding").hidden = unsupported.length === 0;
  for (const sentence of unsupported) {
    const item = el("li", "", `„${sentence.text}“`);
    if (sentence.missing?.length) {
      item.append(" ", setText(el("span", "notice-detail"), "ungroundedMissing", { words: sentence.missing.join(", ") }));
    }
    list.append(item);
  }
}

function renderSources(sources) {
  const list = $("sources");
  list.replaceChildren();
  $("sources-block").hidden = sources.length === 0;
  for (const source of sources) {
    const item = el("li", "source-item");
    item.id = `source-${source.number}`;
    item.value = source.number;
    const button = el("button", "source");
    button.type = "button";
    button.dataset.n = String(source.number);
    const name = source.title || source.path;
    const meta = el("span", "source-meta");
    for (const part of [source.source, name === source.path ? "" : source.path]) {
      if (part) meta.append(el("span", "", part), " · ");
    }
    meta.append(setLocation(el("span", ""), source));
    const body = el("span", "source-body");
    body.append(el("span", "source-title", name), meta);
    button.append(el("span", "source-number", String(source.number)), body);
    item.append(button);
    list.append(item);
  }
}

// ---- the passage panel -------------------------------------------------------------------------

async function openPassage(number) {
  const source = state.sources.get(number);
  if (!source) return;
  state.passage = source;
  for (const button of document.querySelectorAll(".source")) {
    if (Number(button.dataset.n) === number) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  showPassageHeader(source);
  setText($("passage-status"), "loading");
  $("passage-status").classList.remove("is-error");
  $("passage-text").replaceChildren();
  $("passage-panel").hidden = false;
  document.body.classList.add("panel-open");
  $("panel-close").focus();
  let error;
  try {
    const response = await api(`v1/passages/${encodeURIComponent(source.chunk_id)}`);
    if (state.passage !== source) return; // another passage was opened meanwhile
    if (response.status === 401) return await needKey(response, () => openPassage(number));
    if (response.ok) return showPassage(await response.json());
    error = ["errorHttp", await failure(response)];
  } catch (err) {
    error = ["errorNetwork", { message: err.message }];
  }
  if (state.passage !== source) return;
  setText($("passage-status"), ...error);
  $("passage-status").classList.add("is-error");
}

function showPassageHeader(item) {
  $("passage-name").textContent = item.title || item.path;
  $("passage-path").textContent = item.source ? `${item.source}: ${item.path}` : item.path;
  setLocation($("passage-location"), item);
  $("passage-heading").textContent = item.heading || "–";
}

// The exact passage, highlighted, within the text around it.
function showPassage(passage) {
  showPassageHeader(passage);
  setText($("passage-status"), null);
  const text = $("passage-text");
  const cutBefore = passage.start_char > passage.before.length;
  if (passage.before) text.append(el("span", "context", (cutBefore ? "… " : "") + passage.before));
  const mark = el("mark", "passage-mark", passage.text);
  mark.id = "passage-mark";
  text.append(mark);
  if (passage.after) text.append(el("span", "context", passage.after));
  mark.scrollIntoView({ block: "center" });
}

function closePanel() {
  if (!state.passage) return;
  const number = state.passage.number;
  state.passage = null;
  $("passage-panel").hidden = true;
  document.body.classList.remove("panel-open");
  const button = document.querySelector(`.source[data-n="${number}"]`);
  button?.removeAttribute("aria-current");
  button?.focus();
}

// ---- wiring ------------------------------------------------------------------------------------

function submitQuestion(event) {
  event.preventDefault();
  const running = state.controller;
  if (running) {
    running.abort();
    if (event.submitter) return; // the button reads "Cancel" while an answer streams
  }
  const question = $("question").value.trim();
  if (question) ask(question);
}

function init() {
  applyTexts();
  $("forget-key").hidden = !localStorage.getItem(STORE.key);
  $("ask-form").addEventListener("submit", submitQuestion);
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("ask-form").requestSubmit();
    }
  });
  $("use-case").addEventListener("change", () => {
    localStorage.setItem(STORE.useCase, $("use-case").value);
    describeUseCase();
  });
  $("key-form").addEventListener("submit", saveKey);
  $("forget-key").addEventListener("click", () => {
    localStorage.removeItem(STORE.key);
    $("forget-key").hidden = true;
  });
  $("panel-close").addEventListener("click", closePanel);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePanel();
  });
  for (const button of document.querySelectorAll(".lang-button")) {
    button.addEventListener("click", () => setLanguage(button.dataset.lang));
  }
  document.addEventListener("click", (event) => {
    const target = event.target.closest(".cite, .source");
    if (!target) return;
    event.preventDefault();
    openPassage(Number(target.dataset.n));
  });
  loadModels();
  $("question").focus();
}

init();

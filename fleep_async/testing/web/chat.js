// FakeFleep's web chat: a small Fleep web client. It speaks the same /api as any client: log in
// (token_id cookie + ticket), long-poll account/poll with event_horizon, merge the records.
// Server data never goes through innerHTML: message XML is tokenized and rebuilt from an
// allow-list of elements; every other string becomes a text node. The page's
// Content-Security-Policy (fleep_async/testing/_http/web.py) allows no inline script besides.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  ticket: null,
  accountId: null,
  horizon: 0,
  generation: 0, // bumped on logout: stale poll loops stop
  poll: null, // AbortController of the running poll
  contacts: new Map(), // account_id -> contact record
  convs: new Map(), // conversation_id -> merged header
  messages: new Map(), // conversation_id -> Map(message_nr -> message record)
  files: new Map(), // conversation_id -> Map(attachment_id -> file record)
  hooks: new Map(), // conversation_id -> Map(hook_key -> hook record)
  open: null, // the open conversation's id
  loaded: new Set(), // conversations whose recent history was fetched
  pending: [], // File objects chosen for the next message
};

class ApiError extends Error {
  constructor(status, errorId, message) {
    super(message);
    this.status = status;
    this.errorId = errorId;
  }
}

// ---------------------------------------------------------------------------------- transport

async function api(path, body = {}, signal = undefined) {
  const payload = state.ticket ? { ...body, ticket: state.ticket } : body;
  const res = await fetch("/api/" + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
    credentials: "same-origin",
    signal,
  });
  return answer(res);
}

async function answer(res) {
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const text = (data && data.error_message) || `HTTP ${res.status}`;
    throw new ApiError(res.status, data && data.error_id, text);
  }
  return data || {};
}

async function upload(files) {
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const url = "/api/file/upload?ticket=" + encodeURIComponent(state.ticket);
  const res = await fetch(url, { method: "POST", body: form, credentials: "same-origin" });
  const data = await answer(res);
  return (data.files || []).map((f) => f.upload_url);
}

function requestId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Links from the server (files, hooks) may name another host for this same server (say
// 127.0.0.1 vs localhost): use their path, so the session cookie goes with them.
function localPath(url) {
  try {
    const u = new URL(url, location.href);
    return u.pathname + u.search;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------- small helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

let noticeTimer = null;
function notice(text, kind = "info") {
  const box = $("notice");
  box.textContent = text;
  box.className = "notice " + kind;
  box.hidden = !text;
  clearTimeout(noticeTimer);
  if (text && kind !== "error") noticeTimer = setTimeout(() => (box.hidden = true), 4000);
}

function failed(error) {
  notice(error instanceof Error ? error.message : String(error), "error");
}

function nameOf(accountId) {
  const c = state.contacts.get(accountId);
  return (c && (c.contact_name || c.display_name || c.email)) || "someone";
}

function clock(seconds) {
  if (!seconds) return "";
  const d = new Date(seconds * 1000);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function convTitle(conv) {
  if (conv.topic) return conv.topic;
  const others = (conv.members || []).filter((id) => id !== state.accountId).map(nameOf);
  return others.length ? others.join(", ") : "(just you)";
}

function submitting(form, busy) {
  for (const b of form.querySelectorAll("button")) b.disabled = busy;
}

// ------------------------------------------------------------------------------ Fleep markup

const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);
const ELEMENTS = {
  p: "p", b: "strong", i: "em", u: "u", s: "s", code: "code", pre: "pre", q: "blockquote",
};
// One token per match, as in fleep_async/markup.py: 1 end tag, 2 start tag, 3 its attributes,
// 4 CDATA; comments, doctypes and processing instructions are dropped. No nested quantifiers.
const TOKEN =
  /<\/\s*([A-Za-z_][^\s/<>]*)\s*>|<([A-Za-z_][^\s/<>]*)([^<>]*)>|<!\[CDATA\[([\s\S]*?)(?:\]\]>|$)|<!--[\s\S]*?(?:-->|$)|<[!?][^>]*>?/g;
const ATTRIBUTE = /([^\s=/<>"']+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>/]+))/g;
const ENTITY = /&(?:#[xX]([0-9A-Fa-f]{1,8})|#([0-9]{1,9})|(lt|gt|amp|quot|apos));/g;
const NAMED = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
const MAX_DEPTH = 64;

function decode(text) {
  return text.replace(ENTITY, (_, hex, dec, name) => {
    if (name) return NAMED[name];
    const code = hex ? parseInt(hex, 16) : parseInt(dec, 10);
    const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
    return valid ? String.fromCodePoint(code) : "\ufffd";
  });
}

function attribute(attrs, name) {
  for (const m of attrs.matchAll(ATTRIBUTE)) {
    if (m[1].toLowerCase() === name) return decode(m[2] ?? m[3] ?? m[4] ?? "");
  }
  return null;
}

function element(tag, attrs) {
  if (tag !== "a") return el(ELEMENTS[tag] || "span"); // unknown elements keep only their text
  const link = el("a", { rel: "noopener noreferrer nofollow", target: "_blank" });
  try {
    const href = new URL(attribute(attrs, "href") || "", location.href);
    if (SAFE_SCHEMES.has(href.protocol)) link.href = href.href;
  } catch {
    // no usable href: the label stays as text
  }
  return link;
}

// Message XML (<msg><p>..</p><file/></msg>) to DOM nodes, built with createElement and text
// nodes only: a fixed set of elements, no attributes but a checked href. Like
// fleep_async.markup it is a small tolerant tokenizer, not a browser parser: a malformed body
// degrades to its text, and no parser ever instantiates an element from the message.
function renderMarkup(xml) {
  const root = document.createDocumentFragment();
  const stack = [{ tag: null, node: root }];
  const top = () => stack[stack.length - 1].node;
  let last = 0;
  for (const m of xml.matchAll(TOKEN)) {
    if (m.index > last) top().append(decode(xml.slice(last, m.index)));
    last = m.index + m[0].length;
    const [, end, start, attrs = "", cdata] = m;
    if (cdata !== undefined) {
      top().append(cdata);
    } else if (end) {
      const i = stack.findLastIndex((frame) => frame.tag === end.toLowerCase());
      if (i > 0) stack.splice(i);
    } else if (start) {
      const tag = start.toLowerCase();
      const selfClosing = attrs.trimEnd().endsWith("/");
      if (tag === "br") {
        top().append(el("br"));
        continue;
      }
      let node;
      if (tag === "msg" || stack.length > MAX_DEPTH) node = top(); // transparent
      else if (tag === "file") node = document.createElement("span"); // detached: the file
      // name is dropped here, attachments are listed from their file records
      else top().append((node = element(tag, attrs)));
      if (!selfClosing) stack.push({ tag, node });
    }
  }
  if (last < xml.length) top().append(decode(xml.slice(last)));
  return root;
}

function systemText(msg) {
  let body = {};
  try {
    body = JSON.parse(msg.message) || {};
  } catch {
    body = {};
  }
  const who = nameOf(msg.account_id);
  const names = (ids) => (Array.isArray(ids) ? ids.map(nameOf).join(", ") : "");
  switch (msg.mk_message_type) {
    case "create":
      return `${who} created the conversation` + (body.topic ? ` "${body.topic}"` : "");
    case "add":
      return `${who} added ${names(body.members)}`;
    case "kick":
      return `${who} removed ${names(body.members)}`;
    case "leave":
      return `${who} left`;
    case "topic":
      return `${who} set the topic to "${body.topic || ""}"`;
    case "disclose":
      return `${who} showed the earlier messages to ${names(body.members)}`;
    case "hook":
      return `${who} added the webhook "${body.hook_name || ""}"`;
    case "unhook":
      return `${who} removed the webhook "${body.hook_name || ""}"`;
    case "add_team":
      return `${who} added a team`;
    case "kick_team":
      return `${who} removed a team`;
    default:
      return `${who}: ${msg.mk_message_type}`;
  }
}

// ------------------------------------------------------------------------------------ records

function mapOf(store, key) {
  let m = store.get(key);
  if (!m) store.set(key, (m = new Map()));
  return m;
}

function apply(records) {
  const touched = new Set();
  let listChanged = false;
  let incoming = null; // the newest message from someone else in the open conversation
  for (const r of records) {
    switch (r.mk_rec_type) {
      case "contact":
        state.contacts.set(r.account_id, { ...state.contacts.get(r.account_id), ...r });
        listChanged = true;
        break;
      case "conv": {
        // Headers after message changes are partial: merge, never replace.
        state.convs.set(r.conversation_id, { ...state.convs.get(r.conversation_id), ...r });
        touched.add(r.conversation_id);
        listChanged = true;
        break;
      }
      case "message": {
        const messages = mapOf(state.messages, r.conversation_id);
        const isNew = !messages.has(r.message_nr);
        messages.set(r.message_nr, r);
        touched.add(r.conversation_id);
        if (isNew && r.conversation_id === state.open && r.account_id !== state.accountId) {
          incoming = r;
        }
        break;
      }
      case "file":
        mapOf(state.files, r.conversation_id).set(r.attachment_id, r);
        touched.add(r.conversation_id);
        break;
      case "hook": {
        const hooks = mapOf(state.hooks, r.conversation_id);
        hooks.set(r.hook_key, { ...hooks.get(r.hook_key), ...r });
        touched.add(r.conversation_id);
        break;
      }
      default:
        break; // labels, teams, activity, ...: not shown here
    }
  }
  if (listChanged) renderConvList();
  if (state.open && touched.has(state.open)) renderOpen();
  else if (touched.size) renderConvList();
  if (incoming) announce(incoming);
}

// The message list is redrawn as a whole, so it is not a live region itself: screen readers
// hear only the newest message from someone else.
function announce(msg) {
  if ((msg.mk_message_state || "").endsWith(":system")) return;
  const author = msg.hook_key ? msg.sender_name || "webhook" : nameOf(msg.account_id);
  $("announce").textContent = `${author}: ${renderMarkup(msg.message || "").textContent}`;
}

// --------------------------------------------------------------------------------- long poll

async function pollLoop(generation) {
  let failures = 0;
  while (generation === state.generation) {
    const controller = new AbortController();
    state.poll = controller;
    try {
      // A horizon <= 0 is the initial sync (negative values are its cursor); then wait.
      const body = { event_horizon: state.horizon, wait: state.horizon > 0 };
      const r = await api("account/poll", body, controller.signal);
      if (generation !== state.generation) return;
      apply(r.stream || []);
      state.horizon = typeof r.event_horizon === "number" ? r.event_horizon : 0;
      if (failures || state.horizon > 0) live(true);
      failures = 0;
    } catch (error) {
      if (generation !== state.generation) return;
      if (error instanceof ApiError && error.status === 401) {
        endSession("Your session ended; log in again.");
        return;
      }
      failures += 1;
      live(false);
      // Back off while the server is away (a person's page, not a test: a timer is fine).
      await new Promise((ok) => setTimeout(ok, Math.min(15000, 500 * 2 ** failures)));
    }
  }
}

function live(ok) {
  const badge = $("live");
  badge.hidden = false;
  badge.textContent = ok ? "live" : "reconnecting…";
  badge.className = "live " + (ok ? "ok" : "down");
}

// ------------------------------------------------------------------------------------ session

async function login(email, password) {
  const r = await api("account/login", { email, password, remember_me: false });
  state.ticket = r.ticket;
  state.accountId = r.account_id;
  for (const p of r.profiles || []) state.contacts.set(p.account_id, p);
  $("whoami").textContent = `${r.display_name || email}`;
  showChat();
  const generation = ++state.generation;
  pollLoop(generation);
}

function endSession(message) {
  state.generation += 1;
  if (state.poll) state.poll.abort();
  Object.assign(state, {
    ticket: null,
    accountId: null,
    horizon: 0,
    open: null,
    pending: [],
    poll: null,
  });
  for (const store of [state.contacts, state.convs, state.messages, state.files, state.hooks]) {
    store.clear();
  }
  state.loaded.clear();
  showLogin();
  if (message) notice(message, "error");
}

async function logout() {
  try {
    await api("account/logout");
  } catch {
    // the session may be gone already
  }
  endSession("");
}

// ------------------------------------------------------------------------------------- views

function showLogin() {
  for (const id of ["chat-view", "whoami", "logout", "live"]) $(id).hidden = true;
  $("login-view").hidden = false;
  $("conv-title").textContent = "Pick a conversation";
  loadKnownAccounts();
  $("login-form").elements.email.focus();
}

function showChat() {
  $("login-view").hidden = true;
  for (const id of ["chat-view", "whoami", "logout"]) $(id).hidden = false;
  $("details").hidden = true;
  $("composer").hidden = true;
  $("messages").replaceChildren();
  renderConvList();
}

async function loadKnownAccounts() {
  // FakeFleep's admin route (absent with admin=False; then there is simply no list).
  try {
    const res = await fetch("/_fakefleep/state", { credentials: "same-origin" });
    if (!res.ok) return;
    const data = await res.json();
    const list = $("known-list");
    list.replaceChildren();
    for (const a of data.accounts || []) {
      if (a.mk_account_status !== "active") continue;
      const pick = () => {
        const form = $("login-form");
        form.elements.email.value = a.email;
        form.elements.password.value = "";
        form.elements.password.focus();
      };
      list.append(
        el(
          "li",
          {},
          el("button", { type: "button", class: "link", onclick: pick }, a.display_name || a.email),
          el("span", { class: "hint" }, " " + a.email)
        )
      );
    }
    $("known").hidden = !list.children.length;
  } catch {
    $("known").hidden = true;
  }
}

function sortedConvs() {
  return [...state.convs.values()]
    .filter((c) => !c.is_deleted)
    .sort((a, b) => (b.last_message_time || 0) - (a.last_message_time || 0));
}

function renderConvList() {
  const list = $("conv-list");
  const items = sortedConvs().map((conv) => {
    const unread = conv.conversation_id !== state.open && conv.unread_count > 0;
    return el(
      "li",
      {},
      el(
        "button",
        {
          type: "button",
          class: "conv",
          "aria-current": conv.conversation_id === state.open ? "true" : null,
          "data-conversation-id": conv.conversation_id,
          onclick: () => openConv(conv.conversation_id),
        },
        el("span", { class: "conv-name" }, convTitle(conv)),
        unread
          ? el(
              "span",
              { class: "badge" },
              conv.unread_count,
              el("span", { class: "visually-hidden" }, " unread")
            )
          : null
      )
    );
  });
  if (!items.length) items.push(el("li", { class: "hint" }, "No conversations yet."));
  list.replaceChildren(...items);
  const emails = $("known-emails");
  emails.replaceChildren(
    ...[...state.contacts.values()]
      .filter((c) => c.email && c.account_id !== state.accountId)
      .map((c) => el("option", { value: c.email }, c.display_name || c.email))
  );
}

async function openConv(conversationId) {
  state.open = conversationId;
  state.pending = [];
  $("composer").hidden = false;
  $("details").hidden = false;
  renderConvList();
  renderOpen();
  $("message").focus();
  if (!state.loaded.has(conversationId)) {
    state.loaded.add(conversationId);
    try {
      // The initial sync carries only the last few messages: fetch a page of history.
      const r = await api("conversation/sync/" + conversationId, { mk_direction: "ic_end" });
      apply([r.header, ...(r.stream || [])].filter(Boolean));
    } catch (error) {
      state.loaded.delete(conversationId);
      failed(error);
    }
  }
}

async function loadEarlier(conversationId, fromNr) {
  try {
    const r = await api("conversation/sync_backward/" + conversationId, {
      from_message_nr: fromNr,
    });
    apply(r.stream || []);
  } catch (error) {
    failed(error);
  }
}

function fileLink(f) {
  const href = localPath(f.file_url || "");
  const label = `${f.file_name} (${size(f.file_size)})`;
  if (!href) return el("span", {}, label);
  return el("a", { href, download: f.file_name, class: "file-link" }, label);
}

function renderOpen() {
  const conv = state.convs.get(state.open);
  if (!conv) return;
  $("conv-title").textContent = convTitle(conv);
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const messages = [...(state.messages.get(state.open) || new Map()).values()].sort(
    (a, b) => a.message_nr - b.message_nr
  );
  const files = [...(state.files.get(state.open) || new Map()).values()].filter(
    (f) => !f.is_deleted
  );
  const filesOf = new Map();
  for (const f of files) mapOf(filesOf, f.message_nr).set(f.attachment_id, f);

  const items = [];
  const first = messages.length ? messages[0].message_nr : null;
  if (first !== null && first > Math.max(conv.begin_message_nr || 1, 1)) {
    const id = state.open;
    items.push(
      el(
        "li",
        { class: "earlier" },
        el("button", { type: "button", class: "link", onclick: () => loadEarlier(id, first) }, "Earlier messages")
      )
    );
  }
  for (const msg of messages) items.push(renderMessage(msg, filesOf.get(msg.message_nr)));
  box.replaceChildren(...items);
  if (atBottom || !box.dataset.shown || box.dataset.shown !== state.open) {
    box.scrollTop = box.scrollHeight;
  }
  box.dataset.shown = state.open;
  renderDetails(conv, files);
  markRead(conv, messages);
}

function renderMessage(msg, files) {
  const deleted = (msg.mk_message_state || "").endsWith(":deleted");
  const system = (msg.mk_message_state || "").endsWith(":system");
  const mine = msg.account_id === state.accountId && !msg.hook_key;
  const base = { class: "msg", "data-message-nr": msg.message_nr };
  if (system) {
    return el("li", { ...base, class: "msg system" }, systemText(msg), " ", el("time", {}, clock(msg.posted_time)));
  }
  const author = msg.hook_key ? `${msg.sender_name || "webhook"} (webhook)` : nameOf(msg.account_id);
  const head = el(
    "div",
    { class: "msg-head" },
    el("span", { class: "author" }, author),
    el("time", {}, clock(msg.posted_time)),
    msg.edited_time && !deleted ? el("span", { class: "hint" }, "edited") : null
  );
  const body = deleted
    ? el("p", { class: "hint" }, "message deleted")
    : el("div", { class: "msg-body" }, renderMarkup(msg.message || ""));
  const attached = files && files.size
    ? el("ul", { class: "attachments" }, ...[...files.values()].map((f) => el("li", {}, fileLink(f))))
    : null;
  return el("li", { ...base, class: mine ? "msg mine" : "msg" }, head, body, attached);
}

function renderDetails(conv, files) {
  $("member-list").replaceChildren(
    ...(conv.members || []).map((id) => {
      const c = state.contacts.get(id);
      return el("li", {}, nameOf(id), c && c.email ? el("span", { class: "hint" }, " " + c.email) : null);
    })
  );
  $("file-list").replaceChildren(
    ...(files.length
      ? files
          .sort((a, b) => (b.posted_time || 0) - (a.posted_time || 0))
          .map((f) => el("li", {}, fileLink(f), el("span", { class: "hint" }, " from " + (f.sender_name || nameOf(f.account_id)))))
      : [el("li", { class: "hint" }, "No files yet.")])
  );
  const hooks = [...(state.hooks.get(conv.conversation_id) || new Map()).values()].filter(
    (h) => h.is_active !== false
  );
  $("hook-list").replaceChildren(
    ...(hooks.length
      ? hooks.map((h) => el("li", {}, h.hook_name || "webhook", h.hook_url ? el("span", { class: "hint" }, " (yours)") : null))
      : [el("li", { class: "hint" }, "None.")])
  );
  // Only the hook's owner gets its secret URL, so only those can be posted to from here.
  const own = hooks.filter((h) => h.hook_url);
  const form = $("hook-post-form");
  const select = form.elements.hook;
  const chosen = select.value;
  select.replaceChildren(...own.map((h) => el("option", { value: h.hook_url }, h.hook_name || "webhook")));
  if (own.some((h) => h.hook_url === chosen)) select.value = chosen;
  form.hidden = !own.length;
}

let readInFlight = false;
async function markRead(conv, messages) {
  // Like a client that shows the conversation: move the read horizon to its end.
  const last = messages.length ? messages[messages.length - 1].message_nr : 0;
  if (readInFlight || document.hidden || last <= (conv.read_message_nr || 0)) return;
  readInFlight = true;
  try {
    await api("message/mark_read/" + conv.conversation_id, { message_nr: last });
  } catch {
    // harmless: the unread badge stays
  } finally {
    readInFlight = false;
  }
}

// ---------------------------------------------------------------------------------- composer

function renderPending() {
  $("pending-files").replaceChildren(
    ...state.pending.map((file, i) =>
      el(
        "li",
        {},
        `${file.name} (${size(file.size)}) `,
        el(
          "button",
          {
            type: "button",
            class: "link",
            "aria-label": `Remove ${file.name}`,
            onclick: () => {
              state.pending.splice(i, 1);
              renderPending();
            },
          },
          "×"
        )
      )
    )
  );
}

async function send(event) {
  event.preventDefault();
  const form = $("composer");
  const box = $("message");
  const text = box.value;
  const files = state.pending.slice();
  const conversationId = state.open;
  if (!conversationId || (!text.trim() && !files.length)) return;
  submitting(form, true);
  try {
    const attachments = files.length ? await upload(files) : [];
    const body = { message: text, client_req_id: requestId() };
    if (attachments.length) body.attachments = attachments;
    const r = await api("message/send/" + conversationId, body);
    apply([r.header, ...(r.stream || [])].filter(Boolean));
    if (state.open === conversationId) {
      box.value = "";
      state.pending = [];
      renderPending();
    }
  } catch (error) {
    failed(error); // the text and files stay in the composer for another try
  } finally {
    submitting(form, false);
    box.focus();
  }
}

function onKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
}

// ------------------------------------------------------------------------------------- forms

function emails(value) {
  return value
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean)
    .join(", ");
}

async function guarded(form, action) {
  submitting(form, true);
  try {
    await action();
  } catch (error) {
    failed(error);
  } finally {
    submitting(form, false);
  }
}

function wire() {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = event.target.elements;
    guarded(event.target, async () => {
      await login(f.email.value.trim(), f.password.value);
      f.password.value = "";
      notice("");
    });
  });

  $("signup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = event.target.elements;
    guarded(event.target, async () => {
      const res = await fetch("/_fakefleep/state", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          action: "create_account",
          email: f.email.value.trim(),
          password: f.password.value,
          display_name: f.display_name.value.trim(),
        }),
      });
      if (res.status === 404) throw new Error("This FakeFleep runs without admin routes.");
      await answer(res);
      await login(f.email.value.trim(), f.password.value);
      event.target.reset();
      notice("");
    });
  });

  $("logout").addEventListener("click", logout);

  $("new-conv-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    guarded(form, async () => {
      const body = { topic: form.elements.topic.value.trim() || undefined };
      const people = emails(form.elements.emails.value);
      if (people) body.emails = people;
      const r = await api("conversation/create", body);
      apply([r.header, ...(r.stream || [])].filter(Boolean));
      form.reset();
      if (r.header) await openConv(r.header.conversation_id);
    });
  });

  $("add-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const people = emails(form.elements.emails.value);
    if (!people || !state.open) return;
    guarded(form, async () => {
      const r = await api("conversation/add_members/" + state.open, { emails: people });
      apply([r.header, ...(r.stream || [])].filter(Boolean));
      form.reset();
    });
  });

  $("hook-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    if (!state.open) return;
    guarded(form, async () => {
      const name = form.elements.hook_name.value.trim() || "Web chat";
      const r = await api("conversation/create_hook/" + state.open, { hook_name: name });
      apply([r.header, r.hook_info, ...(r.stream || [])].filter(Boolean));
      notice(`Webhook ${name} created.`);
    });
  });

  $("hook-post-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const path = localPath(form.elements.hook.value);
    if (!path) return;
    guarded(form, async () => {
      // A webhook post needs no login: just the secret URL (no cookie, no ticket).
      const res = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ message: form.elements.message.value, user: form.elements.user.value }),
        credentials: "omit",
      });
      await answer(res);
      form.elements.message.value = "";
    });
  });

  $("composer").addEventListener("submit", send);
  $("message").addEventListener("keydown", onKey);
  $("attach").addEventListener("change", (event) => {
    state.pending.push(...event.target.files);
    event.target.value = "";
    renderPending();
    $("message").focus();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.open) renderOpen();
  });
}

wire();
showLogin();

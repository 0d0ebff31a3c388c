// cxgate agent console: plain JavaScript over the native wire (docs/wire.md).
// Everything a visitor wrote is rendered with textContent, never as HTML.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var TOKEN_KEY = "cxgate.agent.token";
  var SOUND_KEY = "cxgate.agent.sound"; // "off" mutes the attention tone
  var TITLE = "cxgate agent console";
  // A chat over for this agent leaves the list by itself this long after.
  var ENDED_LINGER_MS = 2 * 60 * 1000;
  var WIRES = { native: "web", gms: "GMS", purecloud: "guest chat" };
  // userData keys that name the visitor's pages, shown under "Pages visited".
  var PAGE_KEYS = ["pages", "page", "url", "pageUrl", "currentPage"];
  var state = {
    token: "", me: null, ws: null, wsUp: false, seq: 0, nextId: 1, pending: {},
    chats: {}, order: [], queued: [], current: null, agents: {},
    left: { open: [], answered: [] }, currentMsg: null,
    retry: 0, retryTimer: null, tickTimer: null, seenQueued: {},
    past: { chats: [], next: "", query: null, timer: null }
  };

  // ---- the wire

  // command runs an AgentService command over the socket when it is up, else
  // over HTTP. It resolves with the data and rejects with {code, message}.
  function command(name, options) {
    if (state.ws && state.wsUp) {
      return new Promise(function (resolve, reject) {
        var id = state.nextId++;
        state.pending[id] = { resolve: resolve, reject: reject };
        state.ws.send(JSON.stringify({ id: id, command: name, options: options || {} }));
      });
    }
    return fetch("/v1/command", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + state.token },
      body: JSON.stringify({ command: name, options: options || {} })
    }).then(function (r) {
      return r.json().catch(function () { throw { code: "http", message: "The gateway answered HTTP " + r.status + "." }; });
    }, function () {
      throw { code: "network", message: "The gateway cannot be reached." };
    }).then(function (r) {
      if (r.status === "resolved") return r.data;
      throw r.error || { code: "unknown", message: "The command failed." };
    });
  }

  function connect() {
    clearTimeout(state.retryTimer);
    if (!state.token) return;
    var ws = new WebSocket((location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/v1/ws");
    state.ws = ws;
    ws.onopen = function () { ws.send(JSON.stringify({ id: 0, auth: { token: state.token, after: state.seq } })); };
    ws.onmessage = function (m) {
      if (ws !== state.ws) return;
      var f;
      try { f = JSON.parse(m.data); } catch (e) { return; }
      if (f.event) { onEvent(f); return; }
      if (f.id === 0) {
        if (f.status !== "resolved") return; // the server closes with 4401
        var wasDown = state.retry > 0;
        state.wsUp = true; state.retry = 0;
        setConn("up");
        if (wasDown) { refresh(true); loadLeft(); }
        return;
      }
      var p = state.pending[f.id];
      if (!p) return;
      delete state.pending[f.id];
      if (f.status === "resolved") p.resolve(f.data); else p.reject(f.error || {});
    };
    ws.onclose = function (e) {
      if (ws !== state.ws) return;
      state.ws = null; state.wsUp = false;
      Object.keys(state.pending).forEach(function (id) {
        state.pending[id].reject({ code: "disconnected", message: "The connection was lost; try again." });
      });
      state.pending = {};
      if (!state.token) { setConn("off"); return; }
      if (e.code === 4401) { signOut("The token was refused."); return; }
      setConn("down");
      state.retry = Math.min(state.retry + 1, 6);
      state.retryTimer = setTimeout(connect, Math.min(500 * Math.pow(2, state.retry - 1), 15000));
    };
  }

  function setConn(s) {
    var el = $("conn");
    el.className = "conn " + s;
    el.textContent = { up: "connected", down: "reconnecting…", off: "offline" }[s] || s;
    document.body.classList.toggle("disconnected", s === "down");
  }

  // ---- events

  function onEvent(f) {
    // One connection gives positions in order; another node (or a restart)
    // numbers its stream apart, and its resync event says where it is.
    if (f.seq) state.seq = f.seq;
    var d = f.data || {};
    // A waiting chat is not one of this agent's: it stays out of state.chats.
    var queueEvent = f.event === "AgentService.chatQueued" || f.event === "AgentService.chatDequeued";
    // A rating of a chat already gone from the list brings it back only if it is known.
    var gone = f.event === "AgentService.chatRated" && !state.chats[d.chatId];
    if (gone) return;
    var c = d.chatId && !queueEvent ? chatOf(d.chatId) : null;
    switch (f.event) {
      case "AgentService.chatRated":
        // The visitor rated a chat after its end; c.info.rating is what
        // getTranscript and the past chats say of it.
        c.info = c.info || { chatId: d.chatId };
        c.info.rating = { rating: d.rating, comment: d.comment || "", time: d.timestamp };
        break;
      case "AgentService.resync":
        refresh(true);
        loadLeft();
        return;
      case "AgentService.chatQueued":
        noteQueued(d);
        break;
      case "AgentService.chatDequeued":
        state.queued = state.queued.filter(function (q) { return q.chatId !== d.chatId; });
        break;
      case "AgentService.chatAssigned":
        if (!c.info || c.closed) attention("assigned", c.id, "New chat: " + visitorName(d), d.subject || d.queue || "");
        c.info = d; c.closed = ""; c.closedText = ""; c.ending = false; c.closedAt = 0;
        notePages(c, d.userData);
        state.queued = state.queued.filter(function (q) { return q.chatId !== d.chatId; });
        loadTranscript(c, true);
        break;
      case "AgentService.messageReceived":
        var before = c.unread;
        addMessages(c, d.messages || [], true);
        if (c.unread > before) {
          var lastMsg = (d.messages || [])[(d.messages || []).length - 1] || {};
          attention("message", c.id, visitorName(c.info), lastMsg.text || "");
        }
        break;
      case "AgentService.visitorTyping":
        setTyping(c, !!d.isTyping);
        break;
      case "AgentService.contextUpdated":
        c.info = c.info || { chatId: d.chatId };
        if (d.userData !== undefined) { c.info.userData = d.userData; notePages(c, d.userData); }
        if (d.identity !== undefined) c.info.identity = d.identity;
        if (d.context !== undefined) c.visit = d.context;
        break;
      case "AgentService.messageLeft":
      case "AgentService.messageAnswered":
        noteLeft(d.message);
        break;
      case "AgentService.chatEnded":
        schedulePast();
        closeChat(c, "ended", d.by === "agent" && c.ending ? "You ended the chat." :
          { visitor: "The visitor ended the chat.", idle: "The chat ended after inactivity." }[d.by] || "The chat ended.");
        break;
      case "AgentService.chatTransferred":
        var t = d.transfer || {};
        if (t.from === myId()) closeChat(c, "transferred", transferText(t.agent, t.queue));
        break;
      case "AgentService.chatResolved":
        var r = d.resolution || {};
        if (r.agent === myId()) closeChat(c, "resolved", resolvedText(r.disposition));
        break;
      default:
        return;
    }
    render();
  }

  function myId() { return state.me ? state.me.id : ""; }

  function chatOf(id) {
    var c = state.chats[id];
    if (!c) {
      c = state.chats[id] = { id: id, info: null, messages: [], seen: {}, unread: 0, closed: "", closedText: "",
        typing: false, typingTimer: null, pages: [], locked: false };
      state.order.unshift(id);
    }
    return c;
  }

  // closeChat marks a chat as over for this agent. A resolution or a transfer
  // says more than the chat's end that comes with it, so it is kept.
  function closeChat(c, how, text) {
    if (how === "ended" && (c.closed === "resolved" || c.closed === "transferred")) return;
    c.closed = how; c.closedText = text; c.typing = false;
    c.closedAt = c.closedAt || Date.now();
  }

  // noteQueued adds a chat that started waiting (AgentService.chatQueued)
  // and calls for attention the first time it is seen.
  function noteQueued(a) {
    state.queued = state.queued.filter(function (q) { return q.chatId !== a.chatId; });
    state.queued.push(a);
    sortQueued();
    if (!state.seenQueued[a.chatId]) {
      state.seenQueued[a.chatId] = true;
      // Routing often assigns at once: call only for a chat still waiting
      // a moment later, so an assignment is not announced twice.
      setTimeout(function () {
        if (waitingChats().some(function (q) { return q.chatId === a.chatId; })) {
          attention("queued", "", "Waiting: " + visitorName(a), (a.queue || "") + " · " + wireLabel(a) + " · " + (a.mode || "live"));
        }
      }, 600);
    }
  }

  // waitingChats is the queue but for the chats open in My chats: a chat
  // requeued from this agent shows once, under Queued, after the reload.
  function waitingChats() {
    return state.queued.filter(function (a) { var c = state.chats[a.chatId]; return !c || !c.info || c.closed; });
  }

  function sortQueued() {
    state.queued.sort(function (x, y) { return (y.priority || 0) - (x.priority || 0) || x.createdAt - y.createdAt; });
  }

  // sweepEnded drops the chats that were over for this agent long enough,
  // but for the one in view.
  function sweepEnded() {
    var now = Date.now();
    state.order = state.order.filter(function (id) {
      var c = state.chats[id];
      if (!c.closed || id === state.current || now - (c.closedAt || now) < ENDED_LINGER_MS) return true;
      delete state.chats[id];
      return false;
    });
  }

  // ---- past chats (AgentService.listPastChats)

  // pastOptions is the search the form describes; a date bounds the start
  // to that local day.
  function pastOptions() {
    var o = { query: $("pastQuery").value.trim() };
    var d = $("pastDate").value;
    if (d) {
      var from = new Date(d + "T00:00:00");
      o.from = from.getTime();
      o.to = new Date(from.getFullYear(), from.getMonth(), from.getDate() + 1).getTime() - 1;
    }
    return o;
  }

  function loadPast(more) {
    var o = more ? state.past.query : pastOptions();
    if (!o) return Promise.resolve();
    var opts = { query: o.query, limit: 20 };
    if (o.from) { opts.from = o.from; opts.to = o.to; }
    if (more) opts.before = state.past.next;
    return command("AgentService.listPastChats", opts).then(function (r) {
      state.past.query = o;
      state.past.chats = (more ? state.past.chats : []).concat(r.chats || []);
      state.past.next = r.next || "";
      render();
    }, showError);
  }

  // schedulePast reloads an unfiltered list a moment after a chat ends.
  function schedulePast() {
    var q = state.past.query;
    if (q && (q.query || q.from)) return;
    clearTimeout(state.past.timer);
    state.past.timer = setTimeout(function () { if (state.me) loadPast(false); }, 1500);
  }

  function renderPast() {
    var ul = $("past");
    keepFocus(ul, function () {
      state.past.chats.forEach(function (a) {
        var li = el("li");
        li.setAttribute("data-chat", a.chatId);
        var b = el("button");
        b.type = "button";
        b.setAttribute("data-chat", a.chatId);
        if (a.chatId === state.current) b.setAttribute("aria-current", "true");
        var top = el("span", "row");
        top.appendChild(el("span", "name", visitorName(a)));
        var ended = el("time", "ended", a.endedAt ? new Date(a.endedAt).toLocaleDateString([], { month: "short", day: "numeric" }) : "");
        top.appendChild(ended);
        b.appendChild(top);
        if (a.match) b.appendChild(el("span", "match", a.match));
        else b.appendChild(el("span", "preview", a.subject || a.queue || ""));
        b.appendChild(meta(a));
        b.onclick = function () { openPast(a); };
        li.appendChild(b);
        ul.appendChild(li);
      });
    });
    $("nopast").hidden = state.past.chats.length > 0;
    $("nopast").textContent = state.past.query && (state.past.query.query || state.past.query.from) ? "No past chat matches." : "No past chats.";
    $("pastMore").hidden = !state.past.next;
  }

  // openPast shows an ended chat's transcript, read-only, outside My chats.
  function openPast(a) {
    var c = state.chats[a.chatId];
    if (!c) {
      c = chatOf(a.chatId);
      c.past = true;
      c.info = a;
    }
    if (!c.closed) closeChat(c, "ended", "This chat ended " + new Date(a.endedAt).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) + ".");
    open(a.chatId);
  }

  // ---- attention: a tone, a desktop notification and the page title

  var audio = null;
  function soundOn() { return localStorage.getItem(SOUND_KEY) !== "off"; }

  // unlockAudio makes the audio context on a user gesture, as browsers ask.
  function unlockAudio() {
    if (audio || !(window.AudioContext || window.webkitAudioContext)) return;
    try { audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
  }

  // tone plays two short notes, higher for a new chat than for a message.
  function tone(kind) {
    if (!audio || !soundOn()) return;
    if (audio.state === "suspended") audio.resume();
    var base = kind === "message" ? 660 : 880;
    [0, 0.16].forEach(function (at, n) {
      var t = audio.currentTime + at;
      var o = audio.createOscillator(), g = audio.createGain();
      o.type = "sine";
      o.frequency.value = n ? base * 1.25 : base;
      g.gain.setValueAtTime(0.0001, t);
      g.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t + 0.14);
      o.connect(g); g.connect(audio.destination);
      o.start(t); o.stop(t + 0.15);
    });
  }

  // attention calls the agent: kind is "assigned", "queued" or "message"; a
  // message in the chat in view of a visible page calls nobody.
  function attention(kind, chatId, title, body) {
    if (kind === "message" && chatId === state.current && !document.hidden) return;
    state.lastAttention = { kind: kind, chatId: chatId, title: title, at: Date.now() };
    tone(kind);
    if (window.Notification && Notification.permission === "granted" && (document.hidden || !document.hasFocus())) {
      try {
        var n = new Notification(title, { body: String(body || "").slice(0, 140), tag: kind + ":" + (chatId || title) });
        n.onclick = function () { window.focus(); if (chatId && state.chats[chatId]) open(chatId); n.close(); };
      } catch (e) { /* some browsers allow notifications only from a service worker */ }
    }
  }

  function renderAttention() {
    var fresh = waitingChats().length;
    var n = state.order.reduce(function (sum, id) { return sum + state.chats[id].unread; }, 0) + fresh;
    document.title = (n ? "(" + n + ") " : "") + TITLE;
    var b = $("sound");
    b.setAttribute("aria-pressed", soundOn() ? "true" : "false");
    b.textContent = soundOn() ? "Sound on" : "Sound off";
    $("notify").hidden = !window.Notification || Notification.permission !== "default";
  }

  function wireLabel(a) { return WIRES[a.wire] || a.wire || "web"; }

  // age says how long ago ms was, short.
  function age(ms) {
    if (!ms) return "";
    var m = Math.max(0, Math.floor((Date.now() - ms) / 60000));
    if (m < 1) return "now";
    if (m < 60) return m + " min";
    var h = Math.floor(m / 60);
    if (h < 24) return h + " h " + (m % 60 ? (m % 60) + " min" : "");
    return Math.floor(h / 24) + " d";
  }

  // whoElse tells two visitors of one name apart: the email, else the
  // identity's short id.
  function whoElse(a) {
    var v = (a && a.visitor) || {};
    if (v.email) return v.email;
    return a && a.identityId ? "#" + a.identityId.slice(-6) : "";
  }

  // meta is the line under a chat in the lists: age, wire, mode, who.
  function meta(a) {
    var m = el("span", "meta");
    var t = el("span", "age", age(a.createdAt));
    t.title = a.createdAt ? "Started " + new Date(a.createdAt).toLocaleString() : "";
    m.appendChild(t);
    m.appendChild(el("span", "wire", wireLabel(a)));
    m.appendChild(el("span", "mode " + (a.mode || "live"), a.mode || "live"));
    var w = whoElse(a);
    if (w) m.appendChild(el("span", "who", w));
    return m;
  }

  function transferText(agentId, queue) {
    if (agentId) return "Transferred to " + ((state.agents[agentId] && state.agents[agentId].name) || agentId) + ".";
    return "Transferred to the queue " + queue + ".";
  }
  function resolvedText(disposition) { return "Resolved" + (disposition ? ": " + disposition : "") + "."; }

  function addMessages(c, msgs, countUnread) {
    msgs.forEach(function (m) {
      if (!m || c.seen[m.index]) return;
      c.seen[m.index] = true;
      c.messages.push(m);
      var from = m.from || {};
      if (m.type === "Message" && from.type === "Client") c.typing = false;
      if (countUnread && m.type === "Message" && from.participantId !== myId() &&
          (c.id !== state.current || document.hidden)) c.unread++;
      if (m.type === "Notice" && from.type !== "Client" && /^This conversation is (un)?locked\.$/.test(m.text || "")) {
        c.locked = !/unlocked/.test(m.text);
      }
    });
    c.messages.sort(function (a, b) { return a.index - b.index; });
  }

  function setTyping(c, on) {
    c.typing = on;
    clearTimeout(c.typingTimer);
    if (on) c.typingTimer = setTimeout(function () { c.typing = false; render(); }, 6000);
  }

  // notePages keeps the trail of pages the visitor's userData named.
  function notePages(c, ud) {
    if (!ud || typeof ud !== "object") return;
    PAGE_KEYS.forEach(function (k) {
      var v = ud[k];
      if (Array.isArray(v)) {
        v.forEach(function (p) { if (typeof p === "string" && p && c.pages.indexOf(p) < 0) c.pages.push(p); });
      } else if (typeof v === "string" && v && c.pages[c.pages.length - 1] !== v) {
        c.pages.push(v);
      }
    });
  }

  // ---- loading

  function loadTranscript(c, countUnread) {
    return command("AgentService.getTranscript", { chatId: c.id }).then(function (r) {
      var wasNull = !c.info;
      c.info = r.chat || c.info;
      if (r.context) c.visit = r.context;
      if (c.info && c.info.locked !== undefined) c.locked = !!c.info.locked;
      if (wasNull || !c.pages.length) notePages(c, c.info && c.info.userData);
      addMessages(c, r.messages || [], countUnread);
      if (r.chat && r.chat.state === "ended" && !c.closed) closeChat(c, "ended", "The chat ended.");
      render();
    }, showError);
  }

  // refresh reloads presence and the queue; full also the assigned chats.
  function refresh(full) {
    return command("AgentService.listChats").then(function (r) {
      if (state.seq === 0) state.seq = r.seq || 0;
      $("status").value = shownStatus = r.status;
      if (r.note) showError({ message: r.note }); // why the gateway changed the status
      state.queued = r.queued || [];
      sortQueued();
      state.queued.forEach(function (q) { state.seenQueued[q.chatId] = true; });
      $("golive").hidden = r.status !== "offline";
      if (full) {
        var mine = {};
        (r.chats || []).forEach(function (a) {
          var c = chatOf(a.chatId);
          mine[a.chatId] = true;
          c.info = a; c.locked = !!a.locked; c.closed = ""; c.closedText = ""; c.closedAt = 0;
          notePages(c, a.userData);
        });
        var waiting = {};
        state.queued.forEach(function (q) { waiting[q.chatId] = true; });
        state.order = state.order.filter(function (id) {
          var c = state.chats[id];
          if (mine[id] || c.past) return true;
          // A chat handed back to the queue shows once: under Queued.
          if (waiting[id] && id !== state.current) { delete state.chats[id]; return false; }
          if (!c.closed) closeChat(c, "ended", waiting[id] ? "This chat went back to the queue." : "This chat is no longer assigned to you.");
          return true;
        });
        if (state.current) loadTranscript(chatOf(state.current), false);
      }
      render();
    }, showError);
  }

  function loadAgents() {
    return command("AgentService.listAgents").then(function (r) {
      (r.agents || []).forEach(function (a) { state.agents[a.id] = a; });
      return r.agents || [];
    });
  }

  // ---- rendering

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function visitorName(info) {
    var v = (info && info.visitor) || {};
    return v.nickname || [v.firstname, v.lastname].filter(Boolean).join(" ") || v.email || "Visitor";
  }

  function clock(ms) {
    return ms ? new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  }

  function render() {
    sweepEnded();
    renderList();
    renderLeft();
    renderPast();
    renderChat();
    renderMessage();
    renderAttention();
    // With nothing open, a phone gives the lists the whole screen (CSS).
    $("console").classList.toggle("browsing", !state.current && !state.currentMsg);
  }

  // keepFocus rebuilds a list without losing the keyboard focus on its items.
  function keepFocus(ul, build) {
    var focused = document.activeElement && ul.contains(document.activeElement) ? document.activeElement.getAttribute("data-chat") : null;
    ul.textContent = "";
    build();
    if (focused) {
      var b = ul.querySelector('button[data-chat="' + CSS.escape(focused) + '"]');
      if (b) b.focus();
    }
  }

  function renderList() {
    var ul = $("chats");
    var ids = state.order.filter(function (id) { return state.chats[id].info && !state.chats[id].past; });
    keepFocus(ul, function () {
      ids.forEach(function (id) {
        var c = state.chats[id];
        var li = el("li");
        li.setAttribute("data-chat", id);
        if (c.closed) li.className = "closed";
        var b = el("button");
        b.type = "button";
        b.setAttribute("data-chat", id);
        if (id === state.current) b.setAttribute("aria-current", "true");
        var top = el("span", "row");
        top.appendChild(el("span", "name", visitorName(c.info)));
        if (c.closed) top.appendChild(el("span", "badge " + c.closed, c.closed));
        else if (c.locked) top.appendChild(el("span", "badge locked", "locked"));
        if (c.unread) {
          var u = el("span", "unread", c.unread);
          u.setAttribute("aria-label", c.unread + " unread");
          top.appendChild(u);
        }
        b.appendChild(top);
        var last = null;
        for (var i = c.messages.length - 1; i >= 0 && !last; i--) if (c.messages[i].type === "Message") last = c.messages[i];
        b.appendChild(el("span", "preview" + (c.typing ? " typing" : ""),
          c.typing ? "typing…" : last ? (last.internal ? "Note: " : "") + last.text : (c.info.subject || c.info.queue || "")));
        b.appendChild(meta(c.info));
        b.onclick = function () { open(id); };
        li.appendChild(b);
        ul.appendChild(li);
      });
    });
    $("nochats").hidden = ids.length > 0;
    $("nochats").textContent = shownStatus === "online" ? "No chats yet: new ones come here." : "No chats. Go online to receive chats.";
    var q = $("queued");
    var waiting = waitingChats();
    keepFocus(q, function () {
      waiting.forEach(function (a) {
        var li = el("li");
        li.setAttribute("data-chat", a.chatId);
        var b = el("button");
        b.type = "button";
        b.setAttribute("data-chat", a.chatId);
        var top = el("span", "row");
        top.appendChild(el("span", "name", visitorName(a)));
        top.appendChild(el("span", "badge", "accept"));
        b.appendChild(top);
        b.appendChild(el("span", "preview", a.queue + (a.subject ? " · " + a.subject : "")));
        b.appendChild(meta(a));
        b.setAttribute("aria-label", "Accept the chat of " + visitorName(a));
        b.onclick = function () {
          b.disabled = true;
          command("AgentService.acceptChat", { chatId: a.chatId }).then(function () {
            open(a.chatId);
            refresh(false);
          }, function (e) { showError(e); refresh(false); });
        };
        li.appendChild(b);
        q.appendChild(li);
      });
    });
    $("noqueued").hidden = waiting.length > 0;
  }

  function open(id) {
    // A note is written for one chat: another chat opens in reply mode.
    if (state.current !== id && state.note) { state.note = false; renderNoteMode(); }
    closeCanned();
    state.current = id;
    state.currentMsg = null;
    $("message").hidden = true;
    var c = chatOf(id);
    c.unread = 0;
    $("empty").hidden = true;
    $("chat").hidden = false;
    render();
    loadTranscript(c, false);
    if (!c.closed) $("text").focus();
  }

  function renderChat() {
    if (!state.current) return;
    var c = chatOf(state.current);
    var i = c.info || {};
    var async = i.mode === "async";
    $("title").textContent = visitorName(i);
    var badge = c.closed || (c.locked ? "locked" : i.state === "idle" ? "idle" : "active");
    $("state").textContent = badge;
    $("state").className = "badge " + badge;
    var closed = !!c.closed;
    // A chat that is over for this agent keeps its transcript and loses its controls.
    ["transfer", "resolve", "end", "reply"].forEach(function (b) { $(b).hidden = closed; });
    $("text").disabled = closed;
    $("lock").hidden = !async || closed;
    $("lock").textContent = c.locked ? "Unlock" : "Lock";
    $("lock").setAttribute("aria-pressed", c.locked ? "true" : "false");
    $("dismiss").hidden = !closed;
    $("banner").hidden = !closed;
    $("banner").textContent = c.closedText;
    $("banner").className = c.closed;
    $("typing").textContent = c.typing ? visitorName(i) + " is typing…" : "";
    renderRating(i.rating);
    renderContext(c);
    renderTranscript(c);
  }

  // renderRating shows the visitor's rating of the chat in view, if any:
  // stars, the number and the comment, as text (never HTML).
  function renderRating(r) {
    var box = $("rating");
    box.hidden = !r || !r.rating;
    if (box.hidden) return;
    var n = Math.max(0, Math.min(5, r.rating | 0));
    box.textContent = "";
    box.appendChild(el("span", "stars", "★★★★★".slice(0, n) + "☆☆☆☆☆".slice(0, 5 - n)));
    box.appendChild(el("strong", "", " Visitor rated " + n + "/5"));
    if (r.comment) box.appendChild(el("q", "", r.comment));
  }

  function dl(list, pairs, append) {
    if (!append) list.textContent = "";
    pairs.forEach(function (p) {
      if (p[1] === undefined || p[1] === null || p[1] === "") return;
      list.appendChild(el("dt", "", p[0]));
      list.appendChild(el("dd", "", typeof p[1] === "object" ? JSON.stringify(p[1]) : p[1]));
    });
  }

  function renderContext(c) {
    var i = c.info || {};
    var v = i.visitor || {};
    var idn = i.identity || {};
    dl($("visitor"), [
      ["Name", visitorName(i)], ["Email", v.email || idn.email], ["Subject", i.subject],
      ["Queue", i.queue], ["Site", i.deployment], ["Mode", i.mode], ["Wire", i.wire ? wireLabel(i) : ""],
      ["Visitor id", i.identityId],
      ["Started", i.createdAt ? new Date(i.createdAt).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : ""]
    ]);
    var pages = $("pages");
    var visit = c.visit && typeof c.visit === "object" ? c.visit : null;
    if (visit) {
      // The session data the visitor's Chat Manager sends: pages with titles and times.
      renderVisit(pages, $("variables"), visit);
      dl($("visitor"), [["Visits", visit.visits], ["Page views", visit.pageViews],
        ["Time on site", duration(visit.timeOnSite)], ["Referrer", visit.referrer]].filter(function (p) { return p[1]; }), true);
    } else {
      pages.textContent = "";
      c.pages.forEach(function (p, n) {
        var li = el("li", n === c.pages.length - 1 ? "now" : "", p);
        li.title = p;
        pages.appendChild(li);
      });
      if (!c.pages.length) pages.appendChild(el("li", "none", "none reported"));
      dl($("variables"), []);
      $("variables").appendChild(el("dd", "none", "none"));
    }
    var ud = i.userData && typeof i.userData === "object" ? i.userData : {};
    dl($("userdata"), Object.keys(ud).filter(function (k) { return PAGE_KEYS.indexOf(k) < 0; }).sort().map(function (k) {
      return [k, ud[k]];
    }));
    if (!$("userdata").firstChild) $("userdata").appendChild(el("dd", "none", "none"));
  }

  // renderVisit shows a visit's pages (title, URL, time; the newest is the
  // current one) and its variables.
  function renderVisit(pages, vars, visit) {
    pages.textContent = "";
    var list = Array.isArray(visit.pages) ? visit.pages : [];
    list.forEach(function (p, n) {
      var li = el("li", n === list.length - 1 ? "now" : "");
      li.setAttribute("data-url", String(p.url || ""));
      li.appendChild(el("span", "ptitle", p.title || p.url || "(untitled)"));
      li.appendChild(el("span", "purl", p.url || ""));
      if (p.at) li.appendChild(el("time", "", clock(p.at)));
      li.title = String(p.url || "");
      pages.appendChild(li);
    });
    if (!list.length) pages.appendChild(el("li", "none", "none reported"));
    var v = visit.variables && typeof visit.variables === "object" ? visit.variables : {};
    dl(vars, Object.keys(v).sort().map(function (k) { return [k, v[k] === null ? "null" : String(v[k])]; }));
    if (!vars.firstChild) vars.appendChild(el("dd", "none", "none"));
  }

  function duration(ms) {
    if (!ms) return "";
    var s = Math.round(ms / 1000);
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
  }

  // ---- left messages

  function loadLeft() {
    return command("AgentService.listMessages").then(function (r) {
      state.left = { open: r.open || [], answered: r.answered || [] };
      render();
    }, function () {});
  }

  // noteLeft takes a left message from the stream into the lists.
  function noteLeft(m) {
    if (!m || !m.id) return;
    var drop = function (l) { return l.filter(function (x) { return x.id !== m.id; }); };
    state.left.open = drop(state.left.open);
    state.left.answered = drop(state.left.answered);
    if (m.answer) state.left.answered.unshift(m); else state.left.open.push(m);
  }

  function leftById(id) {
    var all = state.left.open.concat(state.left.answered);
    for (var i = 0; i < all.length; i++) if (all[i].id === id) return all[i];
    return null;
  }

  function renderLeft() {
    var ul = $("leftmsgs");
    var all = state.left.open.concat(state.left.answered);
    var focused = document.activeElement && ul.contains(document.activeElement) ? document.activeElement.getAttribute("data-message") : null;
    ul.textContent = "";
    all.forEach(function (m) {
      var li = el("li");
      if (m.answer) li.className = "closed";
      var b = el("button");
      b.type = "button";
      b.setAttribute("data-message", m.id);
      if (m.id === state.currentMsg) b.setAttribute("aria-current", "true");
      var top = el("span", "row");
      top.appendChild(el("span", "name", m.name || m.email || "Visitor"));
      top.appendChild(el("span", "badge " + (m.answer ? "resolved" : "active"), m.answer ? "answered" : "open"));
      b.appendChild(top);
      b.appendChild(el("span", "preview", m.message));
      b.onclick = function () { openMessage(m.id); };
      li.appendChild(b);
      ul.appendChild(li);
    });
    if (focused) {
      var f = ul.querySelector('button[data-message="' + CSS.escape(focused) + '"]');
      if (f) f.focus();
    }
    $("nomsgs").hidden = all.length > 0;
    var n = state.left.open.length;
    $("openCount").hidden = !n;
    $("openCount").textContent = n;
    $("openCount").setAttribute("aria-label", n + " open");
  }

  function openMessage(id) {
    state.currentMsg = id;
    state.current = null;
    $("chat").hidden = true;
    $("empty").hidden = true;
    $("message").hidden = false;
    $("answerText").value = "";
    render();
    var m = leftById(id);
    if (m && !m.answer) $("answerText").focus();
  }

  function renderMessage() {
    if (!state.currentMsg) return;
    var m = leftById(state.currentMsg);
    if (!m) return;
    $("msgTitle").textContent = m.name || m.email || "Visitor";
    $("msgState").textContent = m.answer ? "answered" : "open";
    $("msgState").className = "badge " + (m.answer ? "resolved" : "active");
    dl($("msgFrom"), [["Name", m.name], ["Email", m.email], ["Site", m.deployment],
      ["Left", new Date(m.createdAt).toLocaleString([], { dateStyle: "short", timeStyle: "short" })]]);
    $("msgText").textContent = m.message;
    var a = $("msgAnswer");
    a.hidden = !m.answer;
    a.textContent = "";
    if (m.answer) {
      a.appendChild(el("span", "from", "Answered by " + m.answer.agentName + " · " +
        new Date(m.answer.answeredAt).toLocaleString([], { dateStyle: "short", timeStyle: "short" })));
      a.appendChild(el("span", "text", m.answer.text));
    }
    $("answer").hidden = !!m.answer;
    renderVisit($("msgPages"), $("msgVars"), m.context && typeof m.context === "object" ? m.context : {});
  }

  function renderTranscript(c) {
    var ol = $("transcript");
    var atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    ol.textContent = "";
    c.messages.forEach(function (m) {
      var from = m.from || {};
      var item;
      switch (m.type) {
        case "Message":
          item = el("li", from.type === "Client" ? "visitor" : from.participantId === myId() ? "mine" : "agent");
          var head = el("span", "from");
          if (m.internal) {
            // Notes and whispers: agents and supervisors only, never the visitor.
            item.className += " internal";
            head.appendChild(el("span", "tag", from.type === "Supervisor" ? "Whisper" : "Internal note"));
          }
          head.appendChild(document.createTextNode(from.name || from.type));
          head.appendChild(el("time", "", clock(m.timestamp)));
          item.appendChild(head);
          item.appendChild(el("span", "text", m.text));
          break;
        case "Notice":
        case "CustomNotice":
          item = el("li", "notice", m.text);
          break;
        case "ParticipantJoined":
        case "ParticipantLeft":
          item = el("li", "notice", (from.name || "Visitor") + (m.type === "ParticipantJoined" ? " joined" : " left"));
          break;
        case "FileUploaded":
          // The file name is the uploader's text: textContent only.
          var fd = m.fileDetails || {};
          var fname = String(fd["file-name"] || m.text || "file");
          item = el("li", "notice file", (from.name || "Visitor") + " shared ");
          var get = el("button", "download", fname);
          get.type = "button";
          get.title = "Download " + fname;
          get.onclick = function () { downloadFile(String(fd["file-id"] || ""), fname); };
          get.disabled = !fd["file-id"];
          item.appendChild(get);
          if (fd["file-size"] !== undefined) item.appendChild(document.createTextNode(" (" + fd["file-size"] + " bytes)"));
          break;
        default:
          return;
      }
      ol.appendChild(item);
    });
    if (atBottom) ol.scrollTop = ol.scrollHeight;
  }

  // ---- files

  // dispositionName reads the file name of a Content-Disposition header
  // (filename*=utf-8'' or filename=); "" when it has none.
  function dispositionName(header) {
    if (typeof header !== "string") return "";
    var star = /filename\*=utf-8''([^;]+)/i.exec(header);
    if (star) {
      try { return decodeURIComponent(star[1]); } catch (_) { /* malformed: try the plain form */ }
    }
    var plain = /filename="((?:[^"\\]|\\.)*)"|filename=([^;\s]+)/i.exec(header);
    if (!plain) return "";
    return plain[1] !== undefined ? plain[1].replace(/\\(.)/g, "$1") : plain[2];
  }

  // downloadFile saves a chat's file: GET /v1/files/{id} with the agent token.
  function downloadFile(fileId, name) {
    if (!fileId) return;
    fetch("/v1/files/" + encodeURIComponent(fileId), { headers: { "Authorization": "Bearer " + state.token } }).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          throw (j && j.error) || { message: "The download failed (HTTP " + r.status + ")." };
        });
      }
      return r.blob().then(function (b) {
        var url = URL.createObjectURL(b);
        var a = document.createElement("a");
        a.href = url;
        // The gateway's name first: its extension follows the content's type.
        a.download = dispositionName(r.headers.get("Content-Disposition")) || name || "file";
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      });
    }).catch(showError);
  }

  // uploadFile sends a file to a chat: POST /v1/files, multipart, with chatId.
  function uploadFile(chatId, file) {
    var form = new FormData();
    form.append("chatId", chatId);
    form.append("file", file, file.name || "file");
    return fetch("/v1/files", { method: "POST", headers: { "Authorization": "Bearer " + state.token }, body: form }).then(function (r) {
      return r.json().catch(function () { throw { message: "The upload failed (HTTP " + r.status + ")." }; });
    }).then(function (r) {
      if (r.status === "resolved") return r.data;
      throw r.error || { message: "The upload failed." };
    });
  }

  // ---- messages to the user

  var noticeTimer = null;
  function showError(e) {
    var n = $("notice");
    n.textContent = (e && e.message) || String(e || "Something went wrong.");
    n.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { n.hidden = true; }, 8000);
  }

  // ---- sign-in

  function signIn(token) {
    state.token = token;
    $("signin").querySelector("button").disabled = true;
    command("AgentService.getStatus").then(function (me) {
      state.me = me;
      $("notice").hidden = true;
      sessionStorage.setItem(TOKEN_KEY, token);
      $("who").textContent = me.name + " (" + me.id + ")";
      $("signin").hidden = true; $("me").hidden = false; $("console").hidden = false;
      $("token").value = "";
      setConn("down");
      $("conn").textContent = "connecting…";
      loadAgents().catch(function () {});
      loadLeft();
      loadPast(false);
      return refresh(true).then(connect);
    }, function (e) {
      state.token = "";
      sessionStorage.removeItem(TOKEN_KEY);
      showError(e && e.code === "network" ? e : { message: "Sign-in failed: " + ((e && e.message) || "the token was refused.") });
      $("token").select();
    }).then(function () { $("signin").querySelector("button").disabled = false; });
    clearInterval(state.tickTimer);
    // The queue is pushed (chatQueued/chatDequeued); the clock only ages the
    // lists and lets ended chats go.
    state.tickTimer = setInterval(function () { if (state.me) render(); }, 30000);
  }

  function signOut(why) {
    var ws = state.ws;
    sessionStorage.removeItem(TOKEN_KEY);
    clearInterval(state.tickTimer);
    clearTimeout(state.retryTimer);
    state.token = ""; state.me = null; state.ws = null; state.wsUp = false; state.seq = 0;
    state.chats = {}; state.order = []; state.queued = []; state.current = null; state.retry = 0; state.seenQueued = {};
    state.left = { open: [], answered: [] }; state.currentMsg = null; $("message").hidden = true;
    clearTimeout(state.past.timer);
    state.past = { chats: [], next: "", query: null, timer: null };
    if (ws) ws.close();
    $("signin").hidden = false; $("me").hidden = true; $("console").hidden = true;
    $("chat").hidden = true; $("empty").hidden = false;
    setConn("off");
    if (why) showError(why);
    $("token").focus();
  }

  // ---- controls

  $("notice").onclick = function () { $("notice").hidden = true; };
  $("signin").onsubmit = function (e) {
    e.preventDefault();
    var t = $("token").value.trim();
    if (t) signIn(t);
  };
  $("signout").onclick = function () {
    var done = function () { signOut(); };
    // Away keeps the chats but stops new ones; offline would hand them back.
    if ($("status").value === "online") command("AgentService.setStatus", { status: "away" }).then(done, done);
    else done();
  };
  var shownStatus = "offline";
  function setStatus(status) {
    return command("AgentService.setStatus", { status: status }).then(function (me) {
      $("status").value = shownStatus = me.status;
      return refresh(true);
    }, function (e) { showError(e); refresh(true); });
  }
  $("status").onchange = function () {
    var status = $("status").value;
    var open = state.order.filter(function (id) { return !state.chats[id].closed && state.chats[id].info; });
    if (status === "offline" && open.length) {
      // Offline hands every open chat back to the queue: ask first.
      $("status").value = shownStatus;
      var d = dialog("offlineDlg", "offlineError");
      $("offlineText").textContent = "Going offline hands your " + (open.length === 1 ? "open chat" : open.length + " open chats") +
        " back to the queue, for another agent. Away keeps them and stops new ones.";
      $("offlineGo").onclick = function () { d.close(); setStatus("offline"); };
      $("offlineAway").onclick = function () { d.close(); setStatus("away"); };
      d.showModal();
      return;
    }
    setStatus(status);
  };
  // On a phone a chat fills the screen; back shows the lists again.
  $("back").onclick = $("msgBack").onclick = function () {
    state.current = null; state.currentMsg = null;
    $("chat").hidden = true; $("message").hidden = true; $("empty").hidden = false;
    render();
  };
  $("pastForm").onsubmit = function (e) { e.preventDefault(); loadPast(false); };
  $("pastMore").onclick = function () { loadPast(true); };
  $("goliveBtn").onclick = function () { setStatus("online"); };
  $("sound").onclick = function () {
    localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on");
    unlockAudio();
    if (soundOn()) tone("queued");
    render();
  };
  $("notify").onclick = function () {
    if (!window.Notification) return;
    var asked = Notification.requestPermission(function () { render(); });
    if (asked && asked.then) asked.then(function () { render(); });
  };
  document.addEventListener("pointerdown", unlockAudio);
  document.addEventListener("keydown", unlockAudio);

  var typing = { last: 0, timer: null, chat: null };
  function stopTyping() {
    clearTimeout(typing.timer);
    if (typing.last && typing.chat) command("AgentService.sendTyping", { chatId: typing.chat, isTyping: false }).catch(function () {});
    typing.last = 0;
  }
  $("text").oninput = function () {
    updateCanned();
    var c = state.current && chatOf(state.current);
    if (!c || c.closed || state.note) return;
    var now = Date.now();
    if (typing.chat !== c.id) { stopTyping(); typing.chat = c.id; }
    if (now - typing.last > 3000) {
      typing.last = now;
      command("AgentService.sendTyping", { chatId: c.id, isTyping: true }).catch(function () {});
    }
    clearTimeout(typing.timer);
    typing.timer = setTimeout(stopTyping, 4000);
  };
  $("text").onkeydown = function (e) {
    if (cannedKey(e)) return;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("reply").requestSubmit(); }
  };

  // ---- canned responses and notes

  // The canned list belongs to the chat's deployment: it is read when "/"
  // opens the list, so an admin's edit shows without a reload.
  var canned = { open: false, chat: "", items: [], shown: [], active: 0, loading: false, error: "", dismissed: -1 };

  // slashQuery is the "/word" just before the caret (at the start or after a
  // space), or null.
  function slashQuery() {
    var t = $("text");
    if (t.selectionStart !== t.selectionEnd) return null;
    var m = /(^|\s)\/([^\s\/]*)$/.exec(t.value.slice(0, t.selectionStart));
    return m ? { query: m[2], start: t.selectionStart - m[2].length - 1 } : null;
  }

  function updateCanned() {
    var c = state.current && chatOf(state.current);
    var q = c && !c.closed ? slashQuery() : null;
    if (!q) { canned.dismissed = -1; closeCanned(); return; }
    if (q.start === canned.dismissed) return; // Esc closed the list for this "/"
    if (!canned.open || canned.chat !== c.id) {
      canned.open = true; canned.chat = c.id; canned.items = []; canned.loading = true; canned.error = "";
      var id = c.id;
      command("AgentService.listCannedResponses", { chatId: id }).then(function (r) {
        if (canned.chat !== id) return;
        canned.items = r.cannedResponses || []; canned.loading = false; filterCanned();
      }, function (err) {
        if (canned.chat !== id) return;
        canned.loading = false; canned.error = err.message || "The canned responses could not be loaded."; renderCanned();
      });
    }
    filterCanned();
  }

  // filterCanned shows the responses whose shortcut starts with the typed
  // word first, then those whose shortcut or text contains it.
  function filterCanned() {
    var q = slashQuery();
    var needle = q ? q.query.toLowerCase() : "";
    var starts = [], contains = [];
    canned.items.forEach(function (r) {
      var sc = r.shortcut.toLowerCase();
      if (sc.indexOf(needle) === 0) starts.push(r);
      else if (sc.indexOf(needle) > 0 || r.text.toLowerCase().indexOf(needle) >= 0) contains.push(r);
    });
    var shown = starts.concat(contains);
    if (shown.length !== canned.shown.length || shown.some(function (r, i) { return r !== canned.shown[i]; })) canned.active = 0;
    canned.shown = shown;
    renderCanned();
  }

  function renderCanned() {
    var ul = $("canned"), t = $("text");
    if (!canned.open) { ul.hidden = true; t.setAttribute("aria-expanded", "false"); t.removeAttribute("aria-activedescendant"); return; }
    ul.textContent = "";
    ul.hidden = false;
    t.setAttribute("aria-expanded", "true");
    if (canned.loading || canned.error || !canned.shown.length) {
      ul.appendChild(el("li", "empty", canned.loading ? "Loading…" : canned.error ||
        (canned.items.length ? "No canned response matches." : "No canned responses for this website.")));
      t.removeAttribute("aria-activedescendant");
      return;
    }
    canned.active = Math.min(canned.active, canned.shown.length - 1);
    canned.shown.forEach(function (r, i) {
      var li = el("li");
      li.id = "canned-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === canned.active ? "true" : "false");
      li.appendChild(el("span", "shortcut", "/" + r.shortcut));
      li.appendChild(el("span", "ctext", r.text));
      li.title = r.text;
      // mousedown, not click: the textarea keeps its focus and caret.
      li.onmousedown = function (e) { e.preventDefault(); insertCanned(r); };
      ul.appendChild(li);
    });
    t.setAttribute("aria-activedescendant", "canned-" + canned.active);
    var act = $("canned-" + canned.active);
    if (act && act.scrollIntoView) act.scrollIntoView({ block: "nearest" });
  }

  function closeCanned() {
    if (!canned || !canned.open) return;
    canned.open = false; canned.chat = ""; canned.shown = []; canned.active = 0;
    renderCanned();
  }

  // insertCanned replaces the "/word" before the caret with r's text, for the
  // agent to edit and send.
  function insertCanned(r) {
    var t = $("text"), q = slashQuery();
    if (!q) { closeCanned(); return; }
    var before = t.value.slice(0, q.start), after = t.value.slice(t.selectionStart);
    t.value = before + r.text + after;
    var caret = before.length + r.text.length;
    t.setSelectionRange(caret, caret);
    closeCanned();
    t.focus();
  }

  // cannedKey handles the list's keys; true when it took the key.
  function cannedKey(e) {
    if (!canned.open || e.isComposing) return false;
    var n = canned.shown.length;
    switch (e.key) {
      case "ArrowDown":
      case "ArrowUp":
        if (!n) return false;
        e.preventDefault();
        canned.active = (canned.active + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
        renderCanned();
        return true;
      case "Enter":
      case "Tab":
        // While the list loads, Enter waits for it rather than sending "/…".
        if (e.key === "Enter" && canned.loading && !e.shiftKey) { e.preventDefault(); return true; }
        if (e.shiftKey || !n) return false;
        e.preventDefault();
        insertCanned(canned.shown[canned.active]);
        return true;
      case "Escape":
        e.preventDefault();
        var q = slashQuery();
        canned.dismissed = q ? q.start : -1;
        closeCanned();
        return true;
    }
    return false;
  }

  $("text").addEventListener("click", updateCanned);
  $("text").addEventListener("blur", function () { setTimeout(function () { if (document.activeElement !== $("text")) closeCanned(); }, 0); });

  // Note mode: what is sent is an internal note, for agents and supervisors.
  state.note = false;
  function renderNoteMode() {
    var b = $("noteMode"), t = $("text");
    b.setAttribute("aria-pressed", state.note ? "true" : "false");
    t.classList.toggle("note", state.note);
    t.placeholder = state.note ? "Internal note: only agents and supervisors see it" : "Reply… (/ for canned responses)";
    t.setAttribute("aria-label", state.note ? "Internal note" : "Reply");
    $("send").textContent = state.note ? "Add note" : "Send";
    $("hint").classList.toggle("note", state.note);
    $("hint").textContent = state.note ? "The visitor does not see notes · Enter adds the note · / canned responses"
      : "Enter sends · Shift+Enter new line · / canned responses · Alt+↑/↓ switch chats";
  }
  function setNoteMode(on) {
    if (state.note === on) return;
    state.note = on;
    if (on) stopTyping(); // the visitor must not see the agent typing a note
    renderNoteMode();
  }
  $("noteMode").onclick = function () { setNoteMode(!state.note); $("text").focus(); };
  $("answer").onsubmit = function (e) {
    e.preventDefault();
    var id = state.currentMsg;
    var text = $("answerText").value;
    if (!id || !text.trim()) return;
    $("answerSend").disabled = true;
    command("AgentService.answerMessage", { id: id, message: text }).then(function (m) {
      noteLeft(m);
      $("answerText").value = "";
      render();
    }, function (err) { showError(err); loadLeft(); }).then(function () { $("answerSend").disabled = false; });
  };
  $("attach").onclick = function () { if (state.current) $("file").click(); };
  $("file").onchange = function () {
    var f = $("file").files[0];
    var id = state.current;
    if (!f || !id) return;
    $("attach").disabled = true;
    uploadFile(id, f).catch(showError).then(function () { $("attach").disabled = false; $("file").value = ""; });
  };
  $("reply").onsubmit = function (e) {
    e.preventDefault();
    var text = $("text").value;
    var id = state.current;
    if (!text.trim() || !id) return;
    var requestId = "console-" + Date.now() + "-" + Math.random().toString(36).slice(2);
    var opts = { chatId: id, message: text, requestId: requestId };
    if (state.note) opts.internal = true;
    $("send").disabled = true;
    closeCanned();
    command("AgentService.sendMessage", opts).then(function () {
      if ($("text").value === text) $("text").value = "";
      if (!opts.internal) stopTyping();
    }, showError).then(function () { $("send").disabled = false; });
  };

  var endArmed = null;
  $("end").onclick = function () {
    var b = $("end");
    if (!endArmed) {
      // Ending cannot be undone: a second press confirms.
      b.textContent = "Confirm end";
      endArmed = setTimeout(function () { endArmed = null; b.textContent = "End chat"; }, 4000);
      return;
    }
    clearTimeout(endArmed); endArmed = null; b.textContent = "End chat";
    var c = chatOf(state.current);
    c.ending = true;
    command("AgentService.endChat", { chatId: c.id }).then(function () {
      closeChat(c, "ended", "You ended the chat."); render();
    }, function (e) { c.ending = false; showError(e); });
  };
  $("dismiss").onclick = function () {
    var id = state.current;
    delete state.chats[id];
    state.order = state.order.filter(function (x) { return x !== id; });
    state.current = null;
    $("chat").hidden = true; $("empty").hidden = false;
    render();
  };
  $("lock").onclick = function () {
    var c = chatOf(state.current);
    command(c.locked ? "AgentService.unlockChat" : "AgentService.lockChat", { chatId: c.id }).then(function (r) {
      c.locked = !!r.locked; render();
    }, showError);
  };

  function dialog(id, errId) {
    var d = $(id);
    d.querySelector(".cancel").onclick = function () { d.close(); };
    $(errId).textContent = "";
    return d;
  }

  $("transfer").onclick = function () {
    var c = chatOf(state.current);
    var d = dialog("transferDlg", "transferError");
    var sel = $("target");
    sel.textContent = "";
    sel.appendChild(el("option", "", "Loading…")).value = "";
    d.showModal();
    Promise.all([loadAgents(), command("AgentService.listQueues")]).then(function (r) {
      sel.textContent = "";
      var ga = el("optgroup"); ga.label = "Agents";
      r[0].forEach(function (a) {
        if (a.self || a.id === myId()) return;
        var o = el("option", "", a.name + " — " + a.status + ", " + a.free + " free");
        o.value = "agent:" + a.id;
        o.disabled = a.status === "offline" || a.free === 0;
        ga.appendChild(o);
      });
      var gq = el("optgroup"); gq.label = "Queues";
      (r[1].queues || []).forEach(function (q) {
        var o = el("option", "", q.name + " — " + q.queued + " waiting" + (q.name === (c.info && c.info.queue) ? " (this chat's queue)" : ""));
        o.value = "queue:" + q.name;
        gq.appendChild(o);
      });
      if (ga.children.length) sel.appendChild(ga);
      sel.appendChild(gq);
      var first = sel.querySelector("option:not([disabled])");
      if (first) sel.value = first.value;
      sel.focus();
    }, function (e) { $("transferError").textContent = e.message || "Could not load the targets."; });
  };
  $("transferForm").onsubmit = function (e) {
    e.preventDefault();
    var c = chatOf(state.current);
    var v = $("target").value;
    var i = v.indexOf(":");
    if (i < 0) return;
    var kind = v.slice(0, i), target = v.slice(i + 1);
    var opts = { chatId: c.id };
    opts[kind === "agent" ? "agentId" : "queue"] = target;
    $("transferGo").disabled = true;
    command("AgentService.transferChat", opts).then(function () {
      closeChat(c, "transferred", transferText(kind === "agent" ? target : "", target));
      $("transferDlg").close();
      render();
    }, function (err) { $("transferError").textContent = err.message || "The transfer failed."; })
      .then(function () { $("transferGo").disabled = false; });
  };

  $("resolve").onclick = function () {
    var d = dialog("resolveDlg", "resolveError");
    $("disposition").value = "";
    d.showModal();
    $("disposition").focus();
  };
  $("resolveForm").onsubmit = function (e) {
    e.preventDefault();
    var c = chatOf(state.current);
    var disposition = $("disposition").value.trim();
    if (!disposition) return;
    $("resolveGo").disabled = true;
    command("AgentService.resolveChat", { chatId: c.id, disposition: disposition }).then(function () {
      c.closed = ""; // the chat's end, if it came first, gives way to the resolution
      closeChat(c, "resolved", resolvedText(disposition));
      $("resolveDlg").close();
      render();
    }, function (err) { $("resolveError").textContent = err.message || "Resolving failed."; })
      .then(function () { $("resolveGo").disabled = false; });
  };

  // Alt+↑/↓ moves between chats from anywhere.
  document.addEventListener("keydown", function (e) {
    if (!e.altKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown") || !state.me) return;
    var ids = state.order.filter(function (id) { return state.chats[id].info && !state.chats[id].past; });
    if (!ids.length) return;
    e.preventDefault();
    var i = ids.indexOf(state.current);
    i = e.key === "ArrowDown" ? (i + 1) % ids.length : (i <= 0 ? ids.length - 1 : i - 1);
    open(ids[i]);
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && state.current) { chatOf(state.current).unread = 0; render(); }
  });

  var saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved); else $("token").focus();
})();

// cxgate agent console: plain JavaScript over the native wire (docs/wire.md).
// Everything a visitor wrote is rendered with textContent, never as HTML.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var state = {
    token: sessionStorage.getItem("cxgate.agent.token") || "",
    me: null, ws: null, seq: 0, nextId: 1, pending: {},
    chats: {},      // chatId → {info, messages: [], unread, ended}
    current: null, typingTimer: null, retry: 0
  };

  function command(name, options) {
    // Over the socket when it is open, else over HTTP.
    if (state.ws && state.ws.readyState === 1 && state.me) {
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
    }).then(function (r) { return r.json(); }).then(function (r) {
      if (r.status === "resolved") return r.data;
      throw r.error;
    });
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var ws = new WebSocket(proto + "//" + location.host + "/v1/ws");
    state.ws = ws;
    ws.onopen = function () { ws.send(JSON.stringify({ id: 0, auth: { token: state.token, after: state.seq } })); };
    ws.onmessage = function (m) {
      var f = JSON.parse(m.data);
      if (f.event) { onEvent(f); return; }
      if (f.id === 0) {
        if (f.status !== "resolved") { signOut(f.error && f.error.message); return; }
        state.me = f.data; state.retry = 0;
        $("conn").textContent = "connected"; $("conn").className = "conn up";
        return;
      }
      var p = state.pending[f.id];
      if (p) { delete state.pending[f.id]; f.status === "resolved" ? p.resolve(f.data) : p.reject(f.error); }
    };
    ws.onclose = function (e) {
      $("conn").textContent = "reconnecting"; $("conn").className = "conn";
      state.me = null;
      if (e.code === 4401) { signOut("The token was refused."); return; }
      if (!state.token) return;
      state.retry = Math.min(state.retry + 1, 5);
      setTimeout(connect, 500 * state.retry);
    };
  }

  function onEvent(f) {
    if (f.seq) state.seq = Math.max(state.seq, f.seq);
    var d = f.data || {};
    switch (f.event) {
      case "AgentService.resync": return refresh();
      case "AgentService.chatAssigned":
        chatOf(d.chatId).info = d; renderList(); return;
      case "AgentService.messageReceived":
        var c = chatOf(d.chatId);
        (d.messages || []).forEach(function (msg) {
          if (c.messages.some(function (x) { return x.index === msg.index; })) return;
          c.messages.push(msg);
          if (state.current !== d.chatId && msg.type === "Message" && msg.from.participantId !== myId()) c.unread++;
        });
        if (state.current === d.chatId) renderTranscript(); renderList(); return;
      case "AgentService.visitorTyping":
        if (state.current === d.chatId) {
          $("typing").textContent = d.isTyping ? "Visitor is typing…" : "";
          clearTimeout(state.typingTimer);
          state.typingTimer = setTimeout(function () { $("typing").textContent = ""; }, 5000);
        }
        return;
      case "AgentService.contextUpdated":
        if (chatOf(d.chatId).info) chatOf(d.chatId).info.userData = d.userData;
        if (state.current === d.chatId) renderContext(); return;
      case "AgentService.chatEnded":
        chatOf(d.chatId).ended = true; renderList();
        if (state.current === d.chatId) renderTranscript(); return;
    }
  }

  function myId() { return state.me ? state.me.id : ""; }
  function chatOf(id) { return state.chats[id] || (state.chats[id] = { info: null, messages: [], unread: 0, ended: false }); }

  function refresh() {
    return command("AgentService.listChats").then(function (r) {
      $("status").value = r.status;
      r.chats.forEach(function (c) { chatOf(c.chatId).info = c; });
      state.queued = r.queued;
      renderList();
      if (state.current) open(state.current);
    });
  }

  function li(label, id, extra) {
    var item = document.createElement("li");
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (extra) { var s = document.createElement("span"); s.className = "unread"; s.textContent = extra; b.appendChild(s); }
    if (id === state.current) b.setAttribute("aria-current", "true");
    item.appendChild(b);
    return { item: item, button: b };
  }

  function visitorName(info) {
    var v = (info && info.visitor) || {};
    return v.nickname || [v.firstname, v.lastname].filter(Boolean).join(" ") || "Visitor";
  }

  function renderList() {
    var ul = $("chats");
    ul.textContent = "";
    Object.keys(state.chats).forEach(function (id) {
      var c = state.chats[id];
      if (!c.info) return;
      var x = li(visitorName(c.info) + (c.ended ? " (ended)" : ""), id, c.unread ? String(c.unread) : "");
      x.button.onclick = function () { open(id); };
      ul.appendChild(x.item);
    });
    var q = $("queued");
    q.textContent = "";
    (state.queued || []).forEach(function (c) {
      var x = li(visitorName(c) + " — accept", c.chatId);
      x.button.onclick = function () {
        command("AgentService.acceptChat", { chatId: c.chatId }).then(refresh, function (e) { alert(e.message); refresh(); });
      };
      q.appendChild(x.item);
    });
  }

  function open(id) {
    state.current = id;
    var c = chatOf(id);
    c.unread = 0;
    $("empty").hidden = true; $("chat").hidden = false;
    renderList();
    command("AgentService.getTranscript", { chatId: id }).then(function (r) {
      c.info = c.info || r.chat;
      c.messages = r.messages;
      c.ended = r.chat.state === "ended";
      renderContext(); renderTranscript();
    });
  }

  function renderContext() {
    var c = chatOf(state.current);
    var i = c.info || {};
    var lines = [visitorName(i) + (i.visitor && i.visitor.email ? " <" + i.visitor.email + ">" : "")];
    if (i.subject) lines.push("Subject: " + i.subject);
    if (i.userData) lines.push("Context: " + JSON.stringify(i.userData));
    $("context").textContent = lines.join("\n");
  }

  function renderTranscript() {
    var c = chatOf(state.current);
    var ol = $("transcript");
    ol.textContent = "";
    c.messages.forEach(function (m) {
      var item = document.createElement("li");
      if (m.type === "Message" || m.type === "Notice") {
        item.className = m.from.participantId === myId() ? "mine" : "";
        var from = document.createElement("span");
        from.className = "from";
        from.textContent = m.from.name;
        item.appendChild(from);
        item.appendChild(document.createTextNode(m.text));
      } else if (m.type === "ParticipantJoined" || m.type === "ParticipantLeft") {
        item.className = "notice";
        item.textContent = m.from.name + (m.type === "ParticipantJoined" ? " joined" : " left");
      } else {
        return;
      }
      ol.appendChild(item);
    });
    if (c.ended) {
      var end = document.createElement("li");
      end.className = "notice";
      end.textContent = "Chat ended";
      ol.appendChild(end);
    }
    $("reply").querySelector("button[type=submit]").disabled = c.ended;
    $("end").disabled = c.ended;
    ol.scrollTop = ol.scrollHeight;
  }

  function signOut(why) {
    sessionStorage.removeItem("cxgate.agent.token");
    state.token = "";
    if (state.ws) state.ws.close();
    $("signin").hidden = false; $("me").hidden = true; $("console").hidden = true;
    if (why) alert(why);
  }

  function signIn(token) {
    state.token = token;
    sessionStorage.setItem("cxgate.agent.token", token);
    command("AgentService.getStatus").then(function (me) {
      state.me = null;
      $("who").textContent = me.name + " (" + me.id + ")";
      $("signin").hidden = true; $("me").hidden = false; $("console").hidden = false;
      connect();
      return refresh();
    }, function (e) { signOut((e && e.message) || "Sign-in failed."); });
  }

  $("signin").onsubmit = function (e) { e.preventDefault(); signIn($("token").value.trim()); };
  $("status").onchange = function () { command("AgentService.setStatus", { status: $("status").value }).then(refresh); };
  var lastTyping = 0;
  $("text").oninput = function () {
    var now = Date.now();
    if (state.current && now - lastTyping > 2000) {
      lastTyping = now;
      command("AgentService.sendTyping", { chatId: state.current, isTyping: true }).catch(function () {});
    }
  };
  $("text").onkeydown = function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("reply").requestSubmit(); }
  };
  $("reply").onsubmit = function (e) {
    e.preventDefault();
    var text = $("text").value;
    if (!text.trim() || !state.current) return;
    var requestId = "console-" + Date.now() + "-" + Math.random().toString(36).slice(2);
    command("AgentService.sendMessage", { chatId: state.current, message: text, requestId: requestId }).then(function () {
      $("text").value = "";
    }, function (err) { alert(err.message); });
  };
  $("end").onclick = function () {
    if (state.current) command("AgentService.endChat", { chatId: state.current }).catch(function (err) { alert(err.message); });
  };
  if (state.token) signIn(state.token);
})();

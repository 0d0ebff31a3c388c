/*
 * The demo pages' own script: a custom chat UI driven only through the Genesys bus, the way a
 * page written for Genesys Widgets does it (registerPlugin, command(...).done().fail(),
 * subscribe). It expects window._genesys.widgets.bus (cxbus.js loaded before it) and these
 * elements: #start-form #nickname #email #chat #transcript #send-form #message #end #older
 * #open-window #status #typing. Everything is rendered with textContent.
 */
(function () {
  'use strict';

  var oMyPlugin = window._genesys.widgets.bus.registerPlugin('MyPlugin');
  var mode = document.documentElement.getAttribute('data-mode') || 'live';

  function $(id) {
    return document.getElementById(id);
  }

  function say(text) {
    $('status').textContent = text;
  }

  // What the status line says while a chat runs, from the chat's own events: who is connected
  // (agentConnected's agents map), else the place in the queue. Transient lines (errors,
  // reconnecting) give way to it at the next event.
  var agents = {};
  var position = 0;
  var running = false;
  function refreshStatus() {
    if (!running) return;
    var names = Object.keys(agents)
      .map(function (k) { return agents[k]; })
      .filter(function (a) { return a && a.connected && !a.supervisor && a.name; })
      .map(function (a) { return a.name; });
    if (names.length) say('Chatting with ' + names.join(', ') + '.');
    else if (mode === 'async') say('Your message will be answered here.');
    else say('Waiting for an agent\u2026' + (position ? ' You are number ' + position + ' in the queue.' : ''));
  }

  function reason(e) {
    return typeof e === 'string' ? e : 'the chat server could not be reached';
  }

  function line(kind, who, text) {
    var li = document.createElement('li');
    li.className = kind;
    if (who) {
      var b = document.createElement('b');
      b.textContent = who + ': ';
      li.appendChild(b);
    }
    li.appendChild(document.createTextNode(text));
    $('transcript').appendChild(li);
    li.scrollIntoView({ block: 'nearest' });
  }

  function showChat(active) {
    running = active;
    $('start-form').hidden = active;
    $('chat').hidden = !active;
    if (active) $('message').focus();
  }

  // ---- commands

  $('start-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    $('transcript').textContent = '';
    oMyPlugin
      .command('WebChatService.startChat', {
        nickname: $('nickname').value || 'Visitor',
        email: $('email').value,
        subject: 'Demo chat',
        userData: { page: location.pathname },
      })
      .done(function () {
        showChat(true);
        refreshStatus();
      })
      .fail(function (e) {
        say('Could not start the chat: ' + reason(e));
      });
  });

  $('send-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = $('message').value;
    oMyPlugin
      .command('WebChatService.sendMessage', { message: text })
      .done(function () {
        $('message').value = '';
      })
      .fail(function (e) {
        say('Not sent: ' + reason(e));
      });
  });

  $('end').addEventListener('click', function () {
    oMyPlugin.command('WebChatService.endChat').fail(function (e) {
      say(reason(e));
    });
  });

  $('older').addEventListener('click', function () {
    oMyPlugin.command('WebChatService.fetchHistory').fail(function (e) {
      say(reason(e));
    });
  });

  $('open-window').addEventListener('click', function () {
    oMyPlugin.command('WebChat.open').fail(function (e) {
      say(reason(e));
    });
  });

  $('end').hidden = mode === 'async'; // a visitor cannot end an async conversation
  $('older').hidden = mode !== 'async';

  oMyPlugin.command('WebChatService.registerTypingPreviewInput', { input: $('message') });

  // ---- events

  oMyPlugin.subscribe('WebChatService.ready', function () {
    say('Ready.');
  });

  // A chat started anywhere on the page (the default window too) hides the start form.
  oMyPlugin.subscribe('WebChatService.started', function () {
    agents = {};
    position = 0;
    if (!running) $('transcript').textContent = '';
    showChat(true);
    refreshStatus();
    askPosition();
  });

  oMyPlugin.subscribe('WebChatService.restored', function () {
    showChat(true);
    askPosition();
    // The replayed agentConnected came first: say who is there, not merely "restored".
    if (Object.keys(agents).length) refreshStatus();
    else say('Chat restored.');
  });

  // The place in the queue: asked once the chat runs (the first position may have been
  // published before this page's stream was up), then pushed as it changes.
  function askPosition() {
    if (mode === 'async') return;
    oMyPlugin.command('WebChatService.getQueuePosition').done(function (d) {
      position = (d && d.position) || 0;
      refreshStatus();
    });
  }

  oMyPlugin.subscribe('WebChatService.queuePosition', function (e) {
    position = e.data.position || 0;
    refreshStatus();
  });

  oMyPlugin.subscribe('WebChatService.messageReceived', function (e) {
    e.data.messages.forEach(function (m) {
      var from = m.from || {};
      if (m.type === 'Message') line(from.type === 'Client' ? 'me' : 'them', from.name || from.type, m.text);
      else if (m.type === 'ParticipantJoined') line('notice', '', (from.name || from.type) + ' joined');
      else if (m.type === 'ParticipantLeft') line('notice', '', (from.name || from.type) + ' left');
      else if (m.type === 'Notice') line('notice', '', m.text);
      else if (m.type === 'FileUploaded') file(from.type === 'Client' ? 'me' : 'them', from.name || from.type, m.fileDetails || {});
    });
  });

  // A shared file: its name as a button that downloads it (WebChatService.downloadFile).
  function file(kind, who, d) {
    var name = String(d['file-name'] || 'a file');
    var li = document.createElement('li');
    li.className = kind + ' file';
    var b = document.createElement('b');
    b.textContent = who + ': ';
    li.appendChild(b);
    var btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'secondary';
    btn.textContent = name;
    btn.title = 'Download ' + name;
    btn.addEventListener('click', function () {
      oMyPlugin.command('WebChatService.downloadFile', { fileId: String(d['file-id']), fileName: name }).fail(function (e) {
        say('Download failed: ' + reason(e && e.status ? 'HTTP ' + e.status : e));
      });
    });
    li.appendChild(btn);
    var size = Number(d['file-size']);
    if (size >= 0) li.appendChild(document.createTextNode(' (' + (size < 1024 ? size + ' B' : Math.round(size / 1024) + ' KB') + ')'));
    $('transcript').appendChild(li);
    li.scrollIntoView({ block: 'nearest' });
  }

  ['agentConnected', 'agentDisconnected', 'botConnected', 'botDisconnected'].forEach(function (n) {
    oMyPlugin.subscribe('WebChatService.' + n, function (e) {
      if (e.data.agents) agents = e.data.agents;
      if (/Connected$/.test(n)) position = 0;
      refreshStatus();
    });
  });

  oMyPlugin.subscribe('WebChatService.agentTypingStarted', function (e) {
    $('typing').textContent = ((e.data.from && e.data.from.name) || 'The agent') + ' is typing\u2026';
  });

  oMyPlugin.subscribe('WebChatService.agentTypingStopped', function () {
    $('typing').textContent = '';
  });

  oMyPlugin.subscribe('WebChatService.ended', function () {
    showChat(false);
    $('typing').textContent = '';
    say('The chat has ended.');
  });

  oMyPlugin.subscribe('WebChatService.disconnected', function () {
    say('Connection lost, reconnecting\u2026');
  });

  oMyPlugin.subscribe('WebChatService.reconnected', function () {
    say('Reconnected.');
    setTimeout(refreshStatus, 2000);
  });

  oMyPlugin.subscribe('WebChatService.restoreTimeout', function () {
    say('Your previous chat expired.');
  });
})();

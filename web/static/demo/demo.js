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
        say('Waiting for an agent\u2026');
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

  oMyPlugin.subscribe('WebChatService.restored', function () {
    showChat(true);
    say('Chat restored.');
  });

  oMyPlugin.subscribe('WebChatService.messageReceived', function (e) {
    e.data.messages.forEach(function (m) {
      var from = m.from || {};
      if (m.type === 'Message') line(from.type === 'Client' ? 'me' : 'them', from.name || from.type, m.text);
      else if (m.type === 'ParticipantJoined') line('notice', '', (from.name || from.type) + ' joined');
      else if (m.type === 'ParticipantLeft') line('notice', '', (from.name || from.type) + ' left');
      else if (m.type === 'Notice') line('notice', '', m.text);
    });
  });

  oMyPlugin.subscribe('WebChatService.agentConnected', function (e) {
    say('Chatting with ' + ((e.data.message && e.data.message.from.name) || 'an agent') + '.');
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
  });

  oMyPlugin.subscribe('WebChatService.restoreTimeout', function () {
    say('Your previous chat expired.');
  });
})();

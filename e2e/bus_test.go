package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBusSemantics checks the CXBus behaviour pages rely on, in the browser:
// plugin registration, callback and handler shapes, async delivery,
// republish, before hooks, buffering until ready, deferreds, data, onReady,
// and that cxbus.js adds no globals but CXBus and _genesys.
func TestBusSemantics(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	head := `<script>window.__onReady = []; window._genesys.widgets.onReady = function (bus) { window.__onReady.push(bus); };</script>`
	url := p.add("/bus.html", testPage(gw.URL, "demo", "", head, ""))
	ctx := newBrowser(t)
	navigate(t, ctx, url)
	waitJS(t, ctx, `window.__count('ready') === 1 && window.__onReady.length === 1`, "WebChatService.ready and onReady")

	failures := eval[[]string](t, ctx, `(async function () {
  var fails = [];
  function check(ok, what) { if (!ok) fails.push(what); }
  var tick = function (ms) { return new Promise(function (r) { setTimeout(r, ms || 10); }); };
  var bus = window._genesys.widgets.bus;

  // Globals: only CXBus and _genesys are new (the rest are this page's own).
  var mine = ['__globalsBefore', '__rec', '__events', '__count', '__texts', '__countText', '__settle', '__onReady'];
  var added = Object.getOwnPropertyNames(window).filter(function (k) { return window.__globalsBefore.indexOf(k) < 0 && mine.indexOf(k) < 0; });
  check(JSON.stringify(added.sort()) === JSON.stringify(['CXBus', '_genesys']), 'globals added: ' + JSON.stringify(added));

  check(bus.namespace() === 'QuickBus', 'bus is the QuickBus plugin');
  check(bus.registerPlugin === window.CXBus.registerPlugin, 'bus.registerPlugin is CXBus.registerPlugin');
  check(window.__onReady[0] === bus, 'onReady got the bus');
  var a = bus.registerPlugin('A');
  check(!!a && bus.registerPlugin('A') === false, 'registerPlugin returns false on a taken name');
  ['publish','publishDirect','republish','subscribe','unsubscribe','command','before','registerCommand','registerEvents',
   'namespace','subscribers','data','registry','ready'].forEach(function (m) { check(typeof a[m] === 'function', 'plugin has ' + m); });

  // Events: full names, callback shape, asynchronous delivery.
  var got = [];
  check(a.subscribe('B.ping', function (e) { got.push(e); }) === 'B.ping', 'subscribe returns the event name');
  check(a.subscribe('B.ping') === false, 'subscribe without a callback is false');
  var b = bus.registerPlugin('B');
  b.publish('ping', {n: 1});
  check(got.length === 0, 'callbacks run asynchronously');
  await tick();
  check(got.length === 1 && got[0].event === 'B.ping' && got[0].publisher === 'B' && got[0].data.n === 1 && typeof got[0].time === 'number', 'callback gets {time, publisher, event, data}');
  b.publish('ping');
  await tick();
  check(got[1] && typeof got[1].data === 'object', 'data defaults to {}');
  check(a.subscribers().indexOf('B.ping') >= 0, 'subscribers lists B.ping');
  check(a.unsubscribe('B.ping') === true, 'unsubscribe');
  b.publish('ping'); await tick();
  check(got.length === 2, 'no delivery after unsubscribe');

  // republish reaches late subscribers; App.ready is republished with the config.
  b.republish('state', {s: 'up'});
  var late = null, app = null;
  a.subscribe('B.state', function (e) { late = e; });
  a.subscribe('App.ready', function (e) { app = e; });
  await tick();
  check(late && late.data.s === 'up', 'republished event delivered to a late subscriber');
  check(app && app.data.webchat && app.data.webchat.transport.deploymentKey === 'demo', 'App.ready carries the config');

  // Commands: handler shape, buffering until ready, own namespace prefix.
  b.registerCommand('echo', function (e) { e.deferred.resolve({commander: e.commander, command: e.command, data: e.data, time: typeof e.time}); });
  var p = a.command('B.echo', {x: 1});
  await tick(30);
  check(p.state() === 'pending', 'commands to a plugin not ready are buffered');
  b.ready();
  await tick();
  check(p.state() === 'resolved', 'buffered command runs on ready()');
  var r = await p;
  check(r.commander === 'A' && r.command === 'B.echo' && r.data.x === 1 && r.time === 'number', 'handler gets {time, commander, command, deferred, data}');
  b.registerCommand('self', function (e) { e.deferred.resolve(e.command); });
  check((await b.command('self')) === 'B.self', 'a command without a dot goes to the caller namespace');

  // before hooks: must return the options; anything else cancels.
  a.before('B.echo', function (o) { o.added = true; return o; });
  r = await a.command('B.echo', {x: 2});
  check(r.data.added === true, 'before hook modifies options');
  b.before('B.echo', function (o) { return false; });
  var res = await window.__settle(a.command('B.echo', {x: 3}));
  check(!res.ok && res.value === "Command was cancelled by a 'before' function.", 'before hook cancels: ' + JSON.stringify(res));

  // Deferreds: chaining, late callbacks fire at once, state.
  b.registerCommand('fail', function (e) { e.deferred.reject('nope'); });
  var order = [];
  var q = a.command('B.fail').done(function () { order.push('done'); }).fail(function (v) { order.push('fail:' + v); }).always(function () { order.push('always'); });
  check(typeof q.then === 'function' && typeof q.promise === 'function', 'promise has then/promise');
  await tick();
  check(order.join() === 'fail:nope,always', 'done/fail/always chain: ' + order.join());
  q.fail(function (v) { order.push('late:' + v); });
  check(order[2] === 'late:nope', 'a callback added after settling fires at once');
  check(q.state() === 'rejected', 'state() is rejected');

  // data: set, read across plugins, events.
  var dataEv = null;
  a.subscribe('B.data.color', function (e) { dataEv = e; });
  b.data('color', 'blue');
  check(a.data('B.color') === 'blue', 'data of another plugin');
  await tick();
  check(dataEv && dataEv.data.value === 'blue', 'data change publishes B.data.color');
  var reg = a.registry();
  check(reg.WebChatService && reg.WebChatService.commands.indexOf('startChat') >= 0 && reg.B.commands.indexOf('echo') >= 0, 'registry lists commands');
  check(reg.WebChat && ['open','close','minimize','endChat'].every(function (c) { return reg.WebChat.commands.indexOf(c) >= 0; }), 'WebChat commands');
  return fails;
})()`)
	if len(failures) > 0 {
		t.Fatalf("bus semantics:\n  %s", strings.Join(failures, "\n  "))
	}
}

// TestGenesysExamples runs the documented examples of the WebChatService
// reference (seeds/004) as a page would, against the gateway, and checks the
// documented resolutions and rejection texts.
func TestGenesysExamples(t *testing.T) {
	p := newPages(t)
	gw := startGateway(t, p)
	body := `<textarea id="msg"></textarea><script>
var oMyPlugin = window._genesys.widgets.bus.registerPlugin('MyPlugin');
window.__r = {taken: window._genesys.widgets.bus.registerPlugin('MyPlugin')};
function note(k) { return function (e) { window.__r[k] = (e === undefined ? null : e); }; }

// Before a chat exists.
oMyPlugin.command('WebChatService.getAgents');
oMyPlugin.command('WebChatService.endChat').done(function(e){
  note('endChatNoSession')('resolved');
}).fail(function(e){
  note('endChatNoSession')(e);
});
oMyPlugin.command('WebChatService.sendMessage', {message: 'hi'}).done(function(e){
  note('sendNoSession')('resolved');
}).fail(function(e){
  note('sendNoSession')(e);
});
oMyPlugin.command('WebChatService.poll').done(function(e){ note('poll')('resolved'); }).fail(note('poll'));
oMyPlugin.command('WebChatService.addPrefilter', {filters: 42}).fail(note('badPrefilter'));
oMyPlugin.command('WebChatService.registerPreProcessor', {preprocessor: 'nope'}).fail(note('badPreprocessor'));
oMyPlugin.command('WebChatService.registerTypingPreviewInput', {input: document.body}).fail(note('badInput'));
oMyPlugin.command('WebChatService.startChat', {nickname: 'x', userData: 'not json {'}).fail(note('badUserData'));
oMyPlugin.command('WebChatService.sendFilteredMessage', {message: 'filtered message', regex: /[a-zA-Z]/}).fail(note('filteredNoSession'));
oMyPlugin.command('WebChatService.startPoll').fail(note('startPollNoSession'));
oMyPlugin.command('WebChatService.stopPoll').fail(note('stopPollNoSession'));
oMyPlugin.command('WebChatService.restore').done(function(e){ note('restoreNone')('resolved'); }).fail(note('restoreNone'));
oMyPlugin.command('WebChatService.getTranscript').done(note('transcriptBefore'));
oMyPlugin.command('WebChatService.resetPollExceptions').done(function(e){ note('resetPoll')('resolved'); });
oMyPlugin.command('WebChatService.verifySession').done(function(e){ if(e.sessionActive) { note('verifyBefore')(e); } else if(!e.sessionActive) { if(oMyPlugin.data('WebChat.open') == false){ note('verifyBefore')(e); note('inviteShown')(true); } else { note('verifyBefore')(e); } } });
oMyPlugin.command('WebChatService.updateUserData', {firstname: 'Joe'}).done(note('userDataBefore'));

window.__phase2 = function () {
  oMyPlugin.command('WebChatService.startChat', {
    nickname: 'Jonny',
    firstname: 'Johnathan',
    lastname: 'Smith',
    email: 'jon.smith@mail.com',
    subject: 'product questions',
    userData: {}
  }).done(function(e){
    // WebChatService started a chat successfully
    note('started')(e);
    oMyPlugin.command('WebChatService.sendMessage', {message: 'hi'}).done(function(e){
      note('sent')(e);
    }).fail(function(e){
      note('sent')('failed: ' + e);
    });
    oMyPlugin.command('WebChatService.startChat', {nickname: 'again'}).fail(note('startAgain'));
    oMyPlugin.command('WebChatService.restore').fail(note('restoreActive'));
    oMyPlugin.command('WebChatService.sendMessage', {message: ''}).fail(note('noText'));
    oMyPlugin.command('WebChatService.fetchHistory').fail(note('historyLive'));
    oMyPlugin.command('WebChatService.sendFilteredMessage', {message: 'filtered message', regex: /filtered/}).done(note('filtered')).fail(note('filteredFail'));
    oMyPlugin.command('WebChatService.addPrefilter', {filters: /^secret-/}).done(note('prefilter'));
    oMyPlugin.command('WebChatService.sendCustomNotice', {message: 'bye'}).done(note('notice')).fail(note('noticeFail'));
    oMyPlugin.command('WebChatService.sendTyping').done(note('typing')).fail(note('typingFail'));
    oMyPlugin.command('WebChatService.updateUserData', {firstname: 'Joe'}).done(note('userData')).fail(note('userDataFail'));
    oMyPlugin.command('WebChatService.getSessionData').done(note('sessionData'));
    oMyPlugin.command('WebChatService.getAgents').done(note('agents')).fail(note('agentsFail'));
    oMyPlugin.command('WebChatService.getStats').done(note('stats')).fail(note('statsFail'));
    oMyPlugin.command('WebChatService.registerTypingPreviewInput', {input: document.getElementById('msg')}).done(note('preview'));
  }).fail(function(e){
    // WebChatService failed to start chat
    note('started')('failed: ' + JSON.stringify(e));
  });
};

window.__phase3 = function () {
  oMyPlugin.command('WebChatService.sendMessage', {message: 'secret-123'});
  oMyPlugin.command('WebChatService.getTranscript').done(note('transcript')).fail(note('transcriptFail'));
  oMyPlugin.command('WebChatService.registerPreProcessor', {preprocessor: function(message){
    message.text = message.text + ' some preprocessing text';
    return message;
  } }).done(function(e){
    note('preprocessor')(typeof e);
    oMyPlugin.command('WebChatService.sendMessage', {message: 'last words'});
  });
};

window.__phase4 = function () {
  oMyPlugin.command('WebChatService.endChat').done(function(e){
    // WebChatService ended a chat successfully
    note('ended')(e);
    oMyPlugin.command('WebChatService.endChat').fail(note('endAgain'));
    oMyPlugin.command('WebChatService.sendMessage', {message: 'too late'}).fail(note('sendAfterEnd'));
    oMyPlugin.command('WebChatService.verifySession').done(note('verifyAfter'));
  }).fail(function(e){
    note('ended')('failed: ' + e);
  });
};
</script>`
	url := p.add("/examples.html", testPage(gw.URL, "demo", "", "", body))
	ctx := newBrowser(t)
	agent := dialAgent(t, gw) // a real agent answers the example page
	navigate(t, ctx, url)

	before := []string{"endChatNoSession", "sendNoSession", "poll", "badPrefilter", "badPreprocessor", "badInput",
		"badUserData", "filteredNoSession", "startPollNoSession", "verifyBefore", "userDataBefore",
		"stopPollNoSession", "restoreNone", "transcriptBefore", "resetPoll"}
	waitJS(t, ctx, keysPresent(before), "the rejections before a chat")
	r := eval[map[string]json.RawMessage](t, ctx, `window.__r`)
	wantStr := map[string]string{
		"endChatNoSession":   "There is no active chat session.",
		"sendNoSession":      "There is no active chat session.",
		"poll":               "Access Denied to private command. Only WebChatService is allowed to invoke this command.",
		"badPrefilter":       "Missing or invalid filters provided. Please provide a regular expression or an array of regular expressions.",
		"badPreprocessor":    "No preprocessor function provided. Type provided was 'string'.",
		"badInput":           "Invalid value provided for the input property. An HTML element reference to a textarea or text input is required.",
		"badUserData":        "malformed data object provided in userData property.",
		"filteredNoSession":  "No active chat session.",
		"startPollNoSession": "No active chat session.",
		"stopPollNoSession":  "No active chat session.",
		"restoreNone":        "No chat session found to restore.",
		"resetPoll":          "resolved",
	}
	checkStrings(t, r, wantStr)
	if string(r["taken"]) != "false" {
		t.Errorf("registerPlugin of a taken name = %s, want false", r["taken"])
	}
	if string(r["verifyBefore"]) != `{"sessionActive":false}` || string(r["inviteShown"]) != "true" {
		t.Errorf("verifySession before a chat = %s (invite %s)", r["verifyBefore"], r["inviteShown"])
	}
	if !strings.HasPrefix(string(r["transcriptBefore"]), `{"messages":[]`) {
		t.Errorf("getTranscript before a chat = %s, want resolved with no messages", r["transcriptBefore"])
	}
	if !strings.Contains(string(r["userDataBefore"]), `"firstname":"Joe"`) {
		t.Errorf("updateUserData before a chat = %s, want the merged object", r["userDataBefore"])
	}

	eval[any](t, ctx, `window.__phase2(), null`)
	waitJS(t, ctx, keysPresent([]string{"started", "sent", "startAgain", "noText", "historyLive", "filtered", "prefilter",
		"notice", "typing", "userData", "sessionData", "agents", "stats", "preview", "restoreActive"}), "phase 2")
	waitJS(t, ctx, `window.__countText('hi') === 1 && window.__count('started') === 1`, "'hi' echoed and started published")
	r = eval[map[string]json.RawMessage](t, ctx, `window.__r`)
	checkStrings(t, r, map[string]string{
		"startAgain":    "There is already an active chat session.",
		"noText":        "No message text provided.",
		"historyLive":   "Fetching history messages applies only to Asynchronous chat.",
		"restoreActive": "Chat session is already active, ignoring restore command.",
	})
	// Documented resolutions: addPrefilter the list of prefilters, getAgents a list of
	// {name, connected, supervisor, connectedTime, disconnectedTime}, getStats
	// {agents, startTime, endTime, duration}, getSessionData the GMS keys.
	var shapes struct {
		Prefilter []any
		Agents    struct{ Agents []map[string]any }
		Stats     map[string]any
		Session   map[string]any
	}
	_ = json.Unmarshal(r["prefilter"], &shapes.Prefilter)
	_ = json.Unmarshal(r["agents"], &shapes.Agents)
	_ = json.Unmarshal(r["stats"], &shapes.Stats)
	_ = json.Unmarshal(r["sessionData"], &shapes.Session)
	if len(shapes.Prefilter) == 0 {
		t.Errorf("addPrefilter resolved %s, want the list of prefilters", r["prefilter"])
	}
	for _, a := range shapes.Agents.Agents {
		for _, k := range []string{"name", "connected", "supervisor", "connectedTime", "disconnectedTime"} {
			if _, ok := a[k]; !ok {
				t.Errorf("getAgents entry %v lacks %s", a, k)
			}
		}
	}
	for _, k := range []string{"agents", "startTime", "endTime", "duration"} {
		if _, ok := shapes.Stats[k]; !ok {
			t.Errorf("getStats = %s, lacks %s", r["stats"], k)
		}
	}
	for _, k := range []string{"secureKey", "sessionID", "alias", "userId"} {
		if _, ok := shapes.Session[k]; !ok {
			t.Errorf("getSessionData = %s, lacks %s", r["sessionData"], k)
		}
	}
	var started struct{ ChatID, Token, Mode string }
	_ = json.Unmarshal(r["started"], &started)
	if started.ChatID == "" || started.Token == "" || started.Mode != "live" {
		t.Errorf("startChat resolved %s, want chatId, token, mode live", r["started"])
	}
	if got := agent.assigned(); got != started.ChatID {
		t.Fatalf("agent got chat %s, want %s", got, started.ChatID)
	}
	agent.waitText(started.ChatID, "hi")
	agent.say(started.ChatID, "Hello Jonny, how can I help?")
	waitJS(t, ctx, `window.__countText('Hello Jonny, how can I help?') === 1 && window.__count('agentConnected') === 1`, "the agent's answer and agentConnected")
	ac := eval[map[string]any](t, ctx, `window.__events.filter(function (e) { return e.event === 'WebChatService.agentConnected'; })[0].data`)
	if acm, _ := ac["message"].(map[string]any); ac["numAgentsConnected"] != float64(1) || ac["agents"] == nil || acm == nil || acm["type"] != "ParticipantJoined" {
		t.Errorf("agentConnected data = %v, want {message, agents, numAgentsConnected: 1}", ac)
	}
	var sent struct{ Seq, Index int }
	_ = json.Unmarshal(r["sent"], &sent)
	if sent.Seq == 0 {
		t.Errorf("sendMessage resolved %s, want a seq", r["sent"])
	}
	var sd struct{ ChatID string }
	_ = json.Unmarshal(r["sessionData"], &sd)
	if sd.ChatID != started.ChatID {
		t.Errorf("getSessionData = %s, want chatId %s", r["sessionData"], started.ChatID)
	}
	if !strings.Contains(string(r["userData"]), "Joe") {
		t.Errorf("updateUserData during a chat = %s", r["userData"])
	}
	// The 'hi' message has the Genesys shape.
	msg := eval[map[string]any](t, ctx, `(function () {
  var out = null;
  window.__events.forEach(function (e) {
    if (e.event === 'WebChatService.messageReceived') e.data.messages.forEach(function (m) { if (m.text === 'hi') out = {m: m, restoring: e.data.restoring, hasOriginal: Array.isArray(e.data.originalMessages), session: e.data.sessionData && e.data.sessionData.chatId}; });
  });
  return out;
})()`)
	m, _ := msg["m"].(map[string]any)
	from, _ := m["from"].(map[string]any)
	if m["type"] != "Message" || from["type"] != "Client" || m["index"] == nil || m["timestamp"] == nil || msg["restoring"] != false || msg["hasOriginal"] != true || msg["session"] != started.ChatID {
		t.Errorf("messageReceived for 'hi' = %v", msg)
	}
	// The filtered message is hidden (but was sent), and clientConnected came with Genesys' data shape.
	if n := eval[int](t, ctx, `window.__countText('filtered message')`); n != 0 {
		t.Errorf("the filtered message was shown %d times", n)
	}
	cc := eval[map[string]any](t, ctx, `(window.__events.filter(function (e) { return e.event === 'WebChatService.clientConnected'; })[0] || {}).data || null`)
	if cc == nil || cc["message"] == nil || cc["agents"] == nil || cc["numAgentsConnected"] == nil {
		t.Errorf("clientConnected data = %v, want {message, agents, numAgentsConnected}", cc)
	}

	eval[any](t, ctx, `window.__phase3(), null`)
	waitJS(t, ctx, keysPresent([]string{"transcript", "preprocessor"}), "phase 3")
	waitJS(t, ctx, `window.__countText('last words some preprocessing text') === 1`, "the preprocessed message")
	if n := eval[int](t, ctx, `window.__texts().filter(function (x) { return x.indexOf('secret-') === 0; }).length`); n != 0 {
		t.Errorf("a message matching a prefilter was shown")
	}
	tr := eval[[]string](t, ctx, `window.__r.transcript.messages.filter(function (m) { return m.type === 'Message'; }).map(function (m) { return m.text; })`)
	if len(tr) == 0 || tr[0] != "hi" || contains(tr, "filtered message") {
		t.Errorf("getTranscript texts = %q, want 'hi' and no filtered message", tr)
	}

	eval[any](t, ctx, `window.__phase4(), null`)
	waitJS(t, ctx, keysPresent([]string{"ended", "endAgain", "sendAfterEnd", "verifyAfter"}), "phase 4")
	waitJS(t, ctx, `window.__count('ended') === 1`, "ended published")
	r = eval[map[string]json.RawMessage](t, ctx, `window.__r`)
	checkStrings(t, r, map[string]string{
		"endAgain":     "There is no active chat session.",
		"sendAfterEnd": "There is no active chat session.",
	})
	if string(r["verifyAfter"]) != `{"sessionActive":false}` {
		t.Errorf("verifySession after the end = %s", r["verifyAfter"])
	}
	if n := eval[int](t, ctx, `window.__countText('hi')`); n != 1 {
		t.Errorf("'hi' shown %d times, want 1", n)
	}
}

func keysPresent(keys []string) string {
	b, _ := json.Marshal(keys)
	return `window.__r && ` + string(b) + `.every(function (k) { return k in window.__r; })`
}

func checkStrings(t *testing.T, r map[string]json.RawMessage, want map[string]string) {
	t.Helper()
	for k, w := range want {
		var got any
		_ = json.Unmarshal(r[k], &got)
		if got != w {
			t.Errorf("%s rejected with %s, want %q", k, r[k], w)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

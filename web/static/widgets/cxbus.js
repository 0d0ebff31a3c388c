/*!
 * cxgate /widgets/cxbus.js
 *
 * A drop-in for the Genesys Widgets bus ("CXBus") whose WebChatService talks to a cxgate
 * gateway over its native wire (docs/wire.md), plus a small default chat window (the
 * WebChat plugin). Plain ES2017, no build step, no dependencies.
 *
 * Globals: window.CXBus and window._genesys (widgets.bus, widgets.onReady). Nothing else.
 *
 * Layout of this file:
 *   1. helpers
 *   2. Deferred            jQuery-style deferreds, as CXBus uses for every command
 *   3. the bus             plugins, commands, before hooks, events, republish, data
 *   4. App and QuickBus    bootstrap, _genesys.widgets.bus, onReady
 *   5. WebChatService      the gateway client: commands, socket / long-poll stream, restore
 *   6. WebChat             the default chat window
 */
(function (window, document) {
  'use strict';

  if (window.CXBus && window.CXBus.cxgate) return; // included twice: keep the first

  // The <script> element that loaded us; its src tells where the gateway is by default.
  const SCRIPT_SRC = (document.currentScript && document.currentScript.src) || '';

  /* ------------------------------------------------------------------ 1. helpers */

  const now = () => Date.now();
  const isObject = (v) => v !== null && typeof v === 'object';
  const isFn = (v) => typeof v === 'function';

  function isPlainObject(v) {
    if (!isObject(v)) return false;
    const proto = Object.getPrototypeOf(v);
    return proto === Object.prototype || proto === null;
  }

  // An RFC 4122 v4 id. crypto.randomUUID needs a secure context; getRandomValues does not.
  function randomId() {
    const b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  const busOptions = { debug: false, async: true };

  function log() {
    if (busOptions.debug && window.console) console.log.apply(console, ['[CXBus]'].concat(Array.from(arguments)));
  }

  // Errors thrown by page callbacks must not break the bus: report them and go on.
  function report(err) {
    if (window.console) console.error(err);
  }

  // CXBus runs every handler and callback through setTimeout(0) unless configured otherwise.
  function later(fn) {
    if (busOptions.async) setTimeout(fn, 0);
    else fn();
  }

  function flatten(list) {
    const out = [];
    (function walk(a) {
      for (const x of a) Array.isArray(x) ? walk(x) : out.push(x);
    })(list);
    return out;
  }

  /* ----------------------------------------------------------------- 2. Deferred */

  // Deferred() returns the resolver side; .promise() the read-only side. Like jQuery's:
  // done/fail/always chain and callbacks added after settling fire at once (synchronously)
  // with the stored arguments. Unlike CXBus 1.0.0, then() returns a new promise, so
  // `await bus.command(...)` and then-chains work too.
  function Deferred() {
    let state = 'pending';
    let args = [];
    let queue = [];

    const wants = (kind) => kind === 'always' || (kind === 'done') === (state === 'resolved');
    const call = (fn) => {
      try {
        fn.apply(promise, args);
      } catch (err) {
        report(err);
      }
    };
    const add = (kind, fns) => {
      for (const fn of flatten(fns)) {
        if (!isFn(fn)) continue;
        if (state === 'pending') queue.push([kind, fn]);
        else if (wants(kind)) call(fn);
      }
      return promise;
    };
    const settle = (to) =>
      function () {
        if (state === 'pending') {
          state = to;
          args = Array.from(arguments);
          const q = queue;
          queue = [];
          for (const [kind, fn] of q) if (wants(kind)) call(fn);
        }
        return deferred;
      };

    const promise = {
      state: () => state,
      isResolved: () => state === 'resolved',
      isRejected: () => state === 'rejected',
      done: (...fns) => add('done', fns),
      fail: (...fns) => add('fail', fns),
      always: (...fns) => add('always', fns),
      progress: () => promise,
      then(onDone, onFail) {
        const next = Deferred();
        const step = (fn, pass) =>
          function () {
            if (!isFn(fn)) return pass.apply(null, arguments);
            let r;
            try {
              r = fn.apply(null, arguments);
            } catch (err) {
              return next.reject(err);
            }
            if (r && isFn(r.then)) r.then(next.resolve, next.reject);
            else next.resolve(r);
          };
        add('done', [step(onDone, next.resolve)]);
        add('fail', [step(onFail, next.reject)]);
        return next.promise();
      },
      catch: (onFail) => promise.then(undefined, onFail),
      promise: () => promise,
    };
    promise.pipe = promise.then;

    const deferred = Object.assign({}, promise, {
      resolve: settle('resolved'),
      reject: settle('rejected'),
      notify: () => deferred,
      resolveWith: (ctx, a) => deferred.resolve.apply(ctx, a || []),
      rejectWith: (ctx, a) => deferred.reject.apply(ctx, a || []),
    });
    return deferred;
  }

  function rejected(value) {
    return Deferred().reject(value).promise();
  }

  /* ------------------------------------------------------------------- 3. the bus */

  const CANCELLED = "Command was cancelled by a 'before' function.";
  const NO_PLUGIN = 'Could not load plugin file in given location. Check your plugins path option.';

  const plugins = new Map(); // name -> plugin record
  const subscriptions = new Map(); // full event name -> [{plugin, cb}]
  const stored = new Map(); // full event name -> payload kept by republish()
  const beforeHooks = new Map(); // full command name -> [fn]
  let registrationLocked = false;

  function dispatch(commander, name, options) {
    if (typeof name !== 'string' || !name) return rejected('Invalid command');
    const full = name.indexOf('.') < 0 ? commander + '.' + name : name;
    let opts = options === undefined || options === null ? {} : options;
    for (const hook of beforeHooks.get(full) || []) {
      try {
        opts = hook(opts);
      } catch (err) {
        report(err);
        opts = undefined;
      }
      if (!isObject(opts)) break;
    }
    if (!isObject(opts)) {
      log('Error (' + full + '): ' + CANCELLED);
      return rejected(CANCELLED);
    }
    const dot = full.indexOf('.');
    const call = { commander, full, target: full.slice(0, dot), name: full.slice(dot + 1), opts, deferred: Deferred() };
    const rec = plugins.get(call.target);
    if (!rec) {
      log('Error (' + full + '): ' + NO_PLUGIN);
      return rejected(NO_PLUGIN);
    }
    if (rec.isReady || commander === rec.name) run(rec, call);
    else {
      log(rec.name + ' has not been loaded yet or it has not called its ready() method. Your command call (' + full + ') has been buffered.');
      rec.buffer.push(call);
    }
    return call.deferred.promise();
  }

  function run(rec, call) {
    later(() => {
      const handler = rec.commands.get(call.name);
      if (!handler) {
        // CXBus 1.0.0 leaves such a promise pending forever; an answer is kinder.
        call.deferred.reject('Command does not exist');
        return;
      }
      try {
        handler({ time: now(), commander: call.commander, command: call.full, deferred: call.deferred, data: call.opts });
      } catch (err) {
        report(err);
        call.deferred.reject(err && err.message ? err.message : String(err));
      }
    });
  }

  function publish(publisher, evt, data, keep) {
    const full = publisher + '.' + evt;
    const payload = { time: now(), publisher, event: full, data: data || {} };
    if (keep) stored.set(full, payload);
    log('Event: ' + full, payload.data);
    for (const sub of (subscriptions.get(full) || []).slice()) deliver(full, sub, payload);
  }

  function deliver(full, sub, payload) {
    later(() => {
      // Skip subscriptions removed after the event was published.
      if ((subscriptions.get(full) || []).indexOf(sub) < 0) return;
      try {
        sub.cb(payload);
      } catch (err) {
        report(err);
      }
    });
  }

  function readData(rec, key) {
    if (Object.prototype.hasOwnProperty.call(rec.data, key)) return rec.data[key];
    const dot = key.indexOf('.');
    if (dot > 0) {
      const other = plugins.get(key.slice(0, dot));
      if (other) {
        const rest = key.slice(dot + 1);
        return Object.prototype.hasOwnProperty.call(other.data, rest) ? other.data[rest] : other.data[key];
      }
    }
    return undefined;
  }

  function createPlugin(name) {
    const rec = { name, isReady: false, commands: new Map(), events: [], data: {}, buffer: [], iface: null };

    const api = {
      publish: (evt, data) => publish(name, evt, data, false),
      publishDirect: (evt, data) => publish(name, evt, data, false),
      republish: (evt, data) => publish(name, evt, data, true),
      subscribe(evt, cb) {
        if (typeof evt !== 'string' || !evt || !isFn(cb) || plugins.get(name) !== rec) return false;
        const sub = { plugin: name, cb };
        if (!subscriptions.has(evt)) subscriptions.set(evt, []);
        subscriptions.get(evt).push(sub);
        // A republished event reaches late subscribers too.
        if (stored.has(evt)) deliver(evt, sub, stored.get(evt));
        return evt;
      },
      unsubscribe(evt) {
        const list = subscriptions.get(evt);
        if (!list) return false;
        const kept = list.filter((s) => s.plugin !== name);
        if (kept.length === list.length) return false;
        subscriptions.set(evt, kept);
        return true;
      },
      command: (cmd, opts) => dispatch(name, cmd, opts),
      before(cmd, fn) {
        if (typeof cmd !== 'string' || !isFn(fn)) return false;
        if (!beforeHooks.has(cmd)) beforeHooks.set(cmd, []);
        beforeHooks.get(cmd).push(fn);
        return true;
      },
      registerCommand(cmd, fn) {
        if (typeof cmd !== 'string' || !cmd || !isFn(fn)) return false;
        rec.commands.set(cmd, fn);
        return true;
      },
      registerEvents(names) {
        for (const n of flatten([names])) if (typeof n === 'string' && rec.events.indexOf(n) < 0) rec.events.push(n);
        return true;
      },
      namespace: () => name,
      subscribers() {
        const out = [];
        subscriptions.forEach((list, evt) => {
          if (list.some((s) => s.plugin === name)) out.push(evt);
        });
        return out;
      },
      data(key, value) {
        if (key === undefined) return rec.data;
        if (value === undefined) return readData(rec, key);
        const last = rec.data[key];
        if (last === value) return value;
        rec.data[key] = value;
        publish(name, 'data', rec.data);
        publish(name, 'data.' + key, { last, value, time: now() });
        if (!isObject(value) && !isFn(value)) {
          publish(name, 'data.' + key + ':' + (typeof value === 'string' ? "'" + value + "'" : String(value)), value);
        }
        return value;
      },
      registry() {
        const out = {};
        plugins.forEach((p, n) => {
          out[n] = { events: p.events.slice(), commands: Array.from(p.commands.keys()) };
        });
        return out;
      },
      ready() {
        if (rec.isReady) return true;
        rec.isReady = true;
        const buffered = rec.buffer;
        rec.buffer = [];
        for (const call of buffered) run(rec, call);
        return true;
      },
    };

    // Built-ins every CXBus plugin has.
    api.registerCommand('COMMANDS', (e) => e.deferred.resolve(Array.from(rec.commands.keys())));
    api.registerCommand('EVENTS', (e) => e.deferred.resolve(rec.events.slice()));
    api.registerCommand('LOAD', (e) => e.deferred.resolve());

    rec.iface = api;
    plugins.set(name, rec);
    return api;
  }

  function registerPlugin(name) {
    if (typeof name !== 'string' || !name || name.indexOf('.') >= 0) {
      log("Can't register plugin -- Invalid name");
      return false;
    }
    if (plugins.has(name)) {
      log("Can't register plugin " + name + ' -- Name is already taken');
      return false;
    }
    if (registrationLocked) {
      log("Can't register plugin " + name + ' -- Registration is locked.');
      return false;
    }
    return createPlugin(name);
  }

  // The global object acts as a plugin named "CXBus" for command/subscribe/data.
  const cxbusPlugin = createPlugin('CXBus');
  cxbusPlugin.ready();

  function loadFile(url) {
    const d = Deferred();
    const s = document.createElement('script');
    s.src = url;
    s.async = true;
    s.onload = () => d.resolve(url);
    s.onerror = () => d.reject('Could not load plugin file: ' + url);
    (document.head || document.documentElement).appendChild(s);
    return d.promise();
  }

  const CXBus = {
    cxgate: true,
    version: '1.0.0-cxgate',
    registerPlugin,
    command: (cmd, opts) => cxbusPlugin.command(cmd, opts),
    subscribe: (evt, cb) => cxbusPlugin.subscribe(evt, cb),
    unsubscribe: (evt) => cxbusPlugin.unsubscribe(evt),
    data: (key, value) => cxbusPlugin.data(key, value),
    registry: () => cxbusPlugin.registry(),
    configure(opts) {
      if (!isObject(opts)) return false;
      if ('debug' in opts) busOptions.debug = !!opts.debug;
      if ('async' in opts) busOptions.async = opts.async !== false;
      return true;
    },
    // Every plugin of this build is built in; there is nothing to load lazily.
    loadPlugin: (name) => (plugins.has(name) ? Deferred().resolve(name).promise() : rejected('Could not load plugin file: ' + name)),
    loadFile,
    registerMaster() {
      return { lock: () => (registrationLocked = true), unlock: () => (registrationLocked = false), config: CXBus.configure };
    },
  };

  window.CXBus = CXBus;

  /* ---------------------------------------------------------- 4. App and QuickBus */

  const App = createPlugin('App');
  const QuickBus = createPlugin('QuickBus');
  QuickBus.registerPlugin = registerPlugin;
  QuickBus.ready();

  // Attach the bus to window._genesys.widgets without replacing what the page put there.
  function widgetsRoot() {
    const g = (window._genesys = isObject(window._genesys) ? window._genesys : {});
    const w = isObject(g.widgets) ? g.widgets : isObject(g.cxwidget) ? g.cxwidget : {};
    g.widgets = w;
    w.bus = QuickBus;
    return w;
  }
  widgetsRoot();

  function boot() {
    // A page may have replaced window._genesys after this script ran: attach again.
    const widgets = widgetsRoot();
    const main = isObject(widgets.main) ? widgets.main : {};
    if (main.debug) busOptions.debug = true;
    App.registerEvents(['ready']);
    App.ready();
    App.republish('ready', widgets);
    // onReady runs after App.ready was published (and so after the widgets configured).
    setTimeout(() => {
      if (isFn(widgets.onReady)) {
        try {
          widgets.onReady(QuickBus);
        } catch (err) {
          report(err);
        }
      }
    }, 0);
  }

  /* ------------------------------------------------------------ 5. WebChatService */

  const WCS = 'WebChatService';
  const wcs = createPlugin(WCS);

  // Rejection texts, exactly as documented (seeds/004).
  const TEXT = {
    alreadyActive: 'There is already an active chat session.',
    noSession: 'There is no active chat session.',
    noSessionShort: 'No active chat session.',
    rateOpen: 'A chat can be rated once it has ended.',
    noRateSession: 'There is no chat session to rate.',
    noText: 'No message text provided.',
    badFilters: 'Missing or invalid filters provided. Please provide a regular expression or an array of regular expressions.',
    badInput: 'Invalid value provided for the input property. An HTML element reference to a textarea or text input is required.',
    badUserData: 'malformed data object provided in userData property.',
    privatePoll: 'Access Denied to private command. Only WebChatService is allowed to invoke this command.',
    privateRestore: 'Access Denied to private command. Only WebChatService is allowed to invoke this command in Non-Async mode.',
    restoring: 'Already restoring. Ignoring request.',
    restoreActive: 'Chat session is already active, ignoring restore command.',
    restoreNone: 'No chat session found to restore.',
    historyAsync: 'Fetching history messages applies only to Asynchronous chat.',
    historyDone: 'No more messages to fetch.',
    noUploads: "This transport doesn't support file uploads.",
    noPreprocessor: (type) => "No preprocessor function provided. Type provided was '" + type + "'.",
    tooLong: (n) => 'Message length exceeds configured threshold of (' + n + ') characters',
  };

  // Messages Genesys hides from the transcript out of the box, plus the page's prefilters.
  const BUILTIN_FILTER = /\{start:[0-9]{9}\}/;

  // Configuration, from window._genesys.widgets.webchat (see configure()).
  const cfg = {
    dataURL: '',
    deploymentKey: '',
    userData: {},
    restoreTimeout: 60000,
    pollExceptionLimit: 5,
    maxMessageLength: 0,
    ajaxTimeout: 15000,
    agentTypingTimeout: 10000,
    maxMessagePageSize: 100, // async: messages per history page (restore, fetchHistory)
    identity: null, // {uuid, jwt, nickname, …}: who the visitor is, sent with startChat
  };

  let configured = false;
  let session = null; // {token, chatId, mode, participantId, deployment} while this page holds a chat
  let starting = false; // a startChat is in flight
  let restoring = null; // the promise of a restore in flight
  let restoreUpTo = 0; // events up to this seq are replayed history ("restoring": true)
  let ending = null; // timer finishing a session whose endChat resolved
  // The chat this page just ended: its token still rates it (rateChat) and reads its transcript
  // within the deployment's restore window. Memory only: the next page does not rate.
  let lastEnded = null; // {token, chatId}
  let pendingUserData = {}; // updateUserData before a chat starts
  let prefilters = []; // RegExp
  let preprocessors = [];
  let oldestIndex = 0; // lowest message index seen: where fetchHistory continues
  let agents = {}; // participantId -> agent info, from *Connected events
  let activityTimer = null;

  // The link to the gateway: one stream (socket or long-poll) while a chat is active.
  const link = {
    running: false, // the stream is wanted
    gen: 0, // bumped on every stop, so stale loops and callbacks can tell
    seq: 0, // highest event seq seen by this page
    seen: new Set(), // "seq event" keys seen, for deduplication
    ws: null,
    wsAuthed: false,
    nextId: 0,
    pending: new Map(), // socket command id -> {resolve, timer}
    useSocket: true,
    wsFailures: 0,
    wsEverUp: false, // a socket has worked in this page
    lastWsTry: 0,
    pollAbort: null,
    closeAfterReplies: null, // a socket to close when its last command is answered
    lost: false, // 'disconnected' published, 'reconnected' not yet
    failures: 0, // consecutive connection failures (pollExceptionLimit)
    offline: false, // 'chatServerWentOffline' published
    sleepers: new Set(),
  };

  // ---- configuration

  // The gateway base URL: where cxbus.js came from, minus "/widgets/cxbus.js".
  function scriptBase() {
    if (!SCRIPT_SRC) return window.location.origin;
    try {
      const u = new URL(SCRIPT_SRC, window.location.href);
      const path = u.pathname.replace(/\/widgets\/[^/]*$/, '');
      return u.origin + (path === '/' ? '' : path);
    } catch (_) {
      return window.location.origin;
    }
  }

  function scriptParam(name) {
    try {
      return new URL(SCRIPT_SRC, window.location.href).searchParams.get(name) || '';
    } catch (_) {
      return '';
    }
  }

  function configure(webchat) {
    const c = isObject(webchat) ? webchat : {};
    const t = isObject(c.transport) ? c.transport : {};
    if (t.type && t.type !== 'cxgate') log('WebChatService: transport type "' + t.type + '" is served by cxgate; using the native wire.');
    let base = (t.type === 'cxgate' || !t.type) && typeof t.dataURL === 'string' && t.dataURL ? t.dataURL : scriptBase();
    cfg.dataURL = String(base).replace(/\/+$/, '');
    cfg.deploymentKey = String(t.deploymentKey || c.deploymentKey || scriptParam('deployment') || '');
    cfg.userData = isPlainObject(c.userData) ? c.userData : {};
    const num = (v, d) => (typeof v === 'number' && v >= 0 ? v : d);
    // A page of a proactive deployment (loader.js) continues an engaged chat for the visit's
    // 24 h idle limit (seeds/000), not Genesys' one minute.
    const proactive = isObject(window._cxgate) && isObject(window._cxgate.proactive);
    cfg.restoreTimeout = num(c.restoreTimeout, proactive ? 24 * 3600 * 1000 : 60000);
    cfg.pollExceptionLimit = num(c.pollExceptionLimit, 5) || 5;
    cfg.maxMessageLength = num(c.maxMessageLength, 0);
    cfg.ajaxTimeout = Math.max(num(c.ajaxTimeout, 15000), 5000);
    cfg.agentTypingTimeout = num(c.agentTypingTimeout, 10000);
    cfg.maxMessagePageSize = Math.min(Math.max(num(t.maxMessagePageSize, 100), 1), 100);
    cfg.identity = isPlainObject(c.identity) ? c.identity : null;
    configured = true;
  }

  // ---- persisted chat state (localStorage, shared by the tabs of the site)

  function stateKey() {
    return '_genesys.widgets.webchat.state.cxgate:' + cfg.deploymentKey + '@' + cfg.dataURL;
  }

  function loadState() {
    try {
      const s = JSON.parse(window.localStorage.getItem(stateKey()));
      return isObject(s) && typeof s.token === 'string' && s.token ? s : null;
    } catch (_) {
      return null;
    }
  }

  function saveState() {
    if (!session) return;
    const prev = loadState();
    const s = {
      token: session.token,
      chatId: session.chatId,
      mode: session.mode,
      participantId: session.participantId,
      seq: Math.max(link.seq, prev && prev.token === session.token ? prev.seq || 0 : 0),
      lastActivity: now(),
      filters: prefilters.map((r) => [r.source, r.flags]),
    };
    try {
      window.localStorage.setItem(stateKey(), JSON.stringify(s));
    } catch (_) {
      /* storage full or disabled: the chat goes on, it just won't survive navigation */
    }
  }

  function clearState(token) {
    const s = loadState();
    if (s && token && s.token !== token) return; // another tab already holds a newer chat
    try {
      window.localStorage.removeItem(stateKey());
    } catch (_) {
      /* ignore */
    }
  }

  // The anonymous identity of an async deployment, kept by the browser across chats (seed 000:
  // "persists this identifier historically in the customer browser cache"): the gateway's signed
  // identity token, apart from the chat state so that the end of a chat leaves it.
  function identityKey() {
    return '_genesys.widgets.webchat.identity.cxgate:' + cfg.deploymentKey + '@' + cfg.dataURL;
  }

  function loadIdentity() {
    try {
      return window.localStorage.getItem(identityKey()) || '';
    } catch (_) {
      return '';
    }
  }

  function keepIdentity(d) {
    if (!isObject(d) || typeof d.identityToken !== 'string' || !d.identityToken) return;
    try {
      window.localStorage.setItem(identityKey(), d.identityToken);
    } catch (_) {
      /* storage disabled: the next chat is a new identity */
    }
  }

  // A live chat not shown by any page for restoreTimeout is not restored (Genesys' .ping cookie).
  function stale(st) {
    return st.mode !== 'async' && cfg.restoreTimeout > 0 && now() - (st.lastActivity || 0) > cfg.restoreTimeout;
  }

  // The stored chat, unless it is stale (then it is forgotten).
  function liveState() {
    const st = loadState();
    if (st && stale(st)) {
      clearState(st.token);
      return null;
    }
    return st;
  }

  // Live chats are restorable only for restoreTimeout after the last page showed them, so
  // keep the timestamp fresh while a page is open.
  function startActivity() {
    stopActivity();
    activityTimer = setInterval(saveState, 5000);
  }
  function stopActivity() {
    if (activityTimer) clearInterval(activityTimer);
    activityTimer = null;
  }

  function adoptFilters(state) {
    if (!state || !Array.isArray(state.filters)) return;
    for (const f of state.filters) {
      try {
        const r = new RegExp(f[0], f[1] || '');
        if (!prefilters.some((p) => p.source === r.source && p.flags === r.flags)) prefilters.push(r);
      } catch (_) {
        /* skip a bad pattern */
      }
    }
  }

  // ---- talking to the gateway

  class NetworkError extends Error {}

  function sleep(ms) {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        link.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      link.sleepers.add(wake);
    });
  }
  function wakeSleepers() {
    for (const wake of Array.from(link.sleepers)) wake();
  }

  async function httpCommand(command, options, token) {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), cfg.ajaxTimeout);
    let res;
    let text = '';
    try {
      res = await fetch(cfg.dataURL + '/v1/command', {
        method: 'POST',
        mode: 'cors',
        credentials: 'omit',
        headers,
        body: JSON.stringify({ deployment: cfg.deploymentKey, command, options: options || {} }),
        signal: ctrl.signal,
      });
      text = await res.text();
    } catch (err) {
      throw new NetworkError(String(err && err.message ? err.message : err));
    } finally {
      clearTimeout(timer);
    }
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (_) {
      /* not JSON */
    }
    if (isObject(json) && (json.status === 'resolved' || json.status === 'rejected')) {
      return { status: json.status, data: json.data, error: json.error, httpStatus: res.status };
    }
    // Something between us and the gateway answered (a proxy, a 502 page...).
    return { status: 'rejected', httpStatus: res.status, ajax: { status: res.status, statusText: res.statusText, responseText: text, responseJSON: json } };
  }

  function wsCommand(command, options) {
    return new Promise((resolve) => {
      const ws = link.ws;
      const id = ++link.nextId;
      // No answer in time: give up on the socket and let the caller go over HTTP (commands
      // that create something carry a requestId, so a second try cannot double them).
      const timer = setTimeout(() => {
        link.pending.delete(id);
        resolve(null);
      }, 10000);
      link.pending.set(id, { resolve, timer });
      try {
        ws.send(JSON.stringify({ id, command, options: options || {} }));
      } catch (_) {
        clearTimeout(timer);
        link.pending.delete(id);
        resolve(null);
      }
    });
  }

  function settleSocketReply(frame) {
    const p = link.pending.get(frame.id);
    if (!p) return;
    link.pending.delete(frame.id);
    clearTimeout(p.timer);
    p.resolve({ status: frame.status, data: frame.data, error: frame.error, httpStatus: frame.status === 'resolved' ? 200 : 0 });
    if (link.closeAfterReplies && !link.pending.size) {
      safeClose(link.closeAfterReplies, 1000);
      link.closeAfterReplies = null;
    }
  }

  function releasePending() {
    const list = Array.from(link.pending.values());
    link.pending.clear();
    for (const p of list) {
      clearTimeout(p.timer);
      p.resolve(null); // the caller falls back to HTTP
    }
  }

  // One command to the gateway, over the socket when it is up, else over HTTP. With retry,
  // network failures are retried for a while (the command must be idempotent).
  async function gw(command, options, opts) {
    const o = opts || {};
    const token = o.token !== undefined ? o.token : session ? session.token : null;
    for (let attempt = 0; ; attempt++) {
      try {
        if (token && session && token === session.token && link.wsAuthed && link.ws) {
          const r = await wsCommand(command, options);
          if (r) return r;
        }
        return await httpCommand(command, options, token);
      } catch (err) {
        if (!(err instanceof NetworkError) || !o.retry || attempt >= 5) throw err;
        await sleep(Math.min(1000 * 2 ** attempt, 8000)); // woken early when the browser goes online
      }
    }
  }

  function publishError(code, response) {
    wcs.publish('error', { errors: [{ code: 'cxgate-' + code, response }] });
  }

  // Settles a command's deferred from a gateway answer: resolved data, the server's
  // documented message string, or an AJAX-like object when there was no proper answer.
  function answer(e, promise, onResolved) {
    promise.then(
      (r) => {
        if (r.status === 'resolved') {
          let out = r.data;
          if (onResolved) {
            const x = onResolved(r.data);
            if (x !== undefined) out = x;
          }
          e.deferred.resolve(out === undefined ? {} : out);
          return;
        }
        if (isObject(r.error) && typeof r.error.message === 'string') {
          if (r.httpStatus >= 500) publishError(r.httpStatus, r.error);
          e.deferred.reject(r.error.message);
          return;
        }
        publishError(r.httpStatus || 0, r.ajax);
        e.deferred.reject(r.ajax || { status: r.httpStatus || 0 });
      },
      (err) => {
        const ajax = { status: 0, statusText: 'error', responseText: '', errorReason: 'NetworkError', message: String(err.message || err) };
        publishError('network', ajax);
        e.deferred.reject(ajax);
      }
    );
  }

  // ---- the event stream: WebSocket, long-poll when sockets fail

  function wsURL() {
    return cfg.dataURL.replace(/^http/i, 'ws') + '/v1/ws';
  }

  function startStream() {
    if (!session || link.running) return;
    link.running = true;
    const gen = ++link.gen;
    wcs.publish('pollingStarted');
    streamLoop(gen);
  }

  function stopStream() {
    if (!link.running) return;
    link.running = false;
    link.gen++;
    if (link.ws) closeWhenAnswered(link.ws);
    if (link.pollAbort) link.pollAbort.abort();
    wakeSleepers();
    wcs.publish('pollingStopped');
  }

  // Closes the socket once the commands sent on it are answered: the chat can end (an 'ended'
  // event) before the reply to the endChat that ended it arrives.
  function closeWhenAnswered(ws) {
    if (!link.pending.size) return safeClose(ws, 1000);
    link.closeAfterReplies = ws;
    setTimeout(() => safeClose(ws, 1000), 3000);
  }

  function safeClose(ws, code) {
    try {
      ws.close(code);
    } catch (_) {
      /* already closed */
    }
  }

  function connectionUp() {
    link.failures = 0;
    if (link.lost) {
      link.lost = false;
      wcs.publish('reconnected');
    }
    if (link.offline) {
      link.offline = false;
      wcs.publish('chatServerBackOnline');
    }
  }

  function connectionDown() {
    link.failures++;
    if (!link.lost) {
      link.lost = true;
      wcs.publish('disconnected');
    }
    if (link.failures >= cfg.pollExceptionLimit && !link.offline) {
      link.offline = true;
      wcs.publish('chatServerWentOffline');
      publishError('offline', { status: 0, statusText: 'error', errorReason: 'ChatServerWentOffline' });
    }
  }

  function backoff(n) {
    const base = Math.min(15000, 500 * 2 ** Math.min(n, 5));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  async function streamLoop(gen) {
    const alive = () => link.running && link.gen === gen && !!session;
    while (alive()) {
      if (link.useSocket && isFn(window.WebSocket)) {
        link.lastWsTry = now();
        const r = await runSocket(gen);
        if (!alive()) return;
        if (r.fatal) return sessionLost(r.error);
        if (r.authed) {
          link.wsEverUp = true;
          // Up for a while and dropped: reconnect at once, before calling it a loss (a server
          // restart or a slow-consumer drop is usually over by then).
          if (r.lived > 2000) continue;
        } else if ((++link.wsFailures >= 2 || !link.wsEverUp) && window.navigator.onLine !== false) {
          // Sockets look blocked here (a proxy, an old browser): long-poll, right away.
          link.useSocket = false;
          continue;
        }
      } else {
        const r = await pollOnce(gen);
        if (!alive()) return;
        if (r === 'fatal') return sessionLost({ code: 'unauthorized' });
        // Try the socket again now and then, and whenever polling fails too (then the network
        // was down, not sockets blocked); one failed socket sends us back to polling.
        if (isFn(window.WebSocket) && (r !== true || now() - link.lastWsTry > 60000)) {
          link.useSocket = true;
          link.wsFailures = 1;
        }
        if (r === true) {
          connectionUp();
          continue;
        }
      }
      connectionDown();
      await sleep(backoff(link.failures));
    }
  }

  function runSocket(gen) {
    return new Promise((resolve) => {
      let ws;
      try {
        ws = new WebSocket(wsURL());
      } catch (_) {
        resolve({ authed: false });
        return;
      }
      link.ws = ws;
      let authedAt = 0;
      let lastFrame = now();
      let beat = null;
      let finished = false;
      const authTimer = setTimeout(() => safeClose(ws, 4000), 10000);
      const finish = (res) => {
        if (finished) return;
        finished = true;
        clearTimeout(authTimer);
        clearInterval(beat);
        if (link.ws === ws) {
          link.ws = null;
          link.wsAuthed = false;
        }
        releasePending();
        resolve(res);
      };
      ws.onopen = () => {
        // No token in the URL: the first frame authenticates and resumes after our last seq.
        ws.send(JSON.stringify({ id: 0, auth: { token: session ? session.token : '', after: link.seq } }));
      };
      ws.onmessage = (m) => {
        lastFrame = now();
        let f;
        try {
          f = JSON.parse(m.data);
        } catch (_) {
          return;
        }
        if (!isObject(f)) return;
        if (!authedAt && f.id === 0 && f.status) {
          clearTimeout(authTimer);
          if (f.status !== 'resolved') {
            safeClose(ws, 1000);
            finish({ fatal: true, error: f.error });
            return;
          }
          authedAt = now();
          link.wsAuthed = true;
          connectionUp();
          // Heartbeat: a socket that has been silent for 45 s is dead even if nobody said so.
          beat = setInterval(() => {
            if (now() - lastFrame > 45000) safeClose(ws, 4000);
            else {
              try {
                ws.send(JSON.stringify({ ping: now() }));
              } catch (_) {
                /* closing */
              }
            }
          }, 20000);
          return;
        }
        if (typeof f.event === 'string') {
          if (gen === link.gen) handleEvents([f]);
          return;
        }
        if (typeof f.id === 'number' && f.status) settleSocketReply(f);
      };
      ws.onerror = () => {}; // onclose follows with the details
      ws.onclose = (ev) => finish({ authed: !!authedAt, lived: authedAt ? now() - authedAt : 0, code: ev.code, fatal: ev.code === 4401, error: { code: 'auth_failed' } });
    });
  }

  // One long-poll: true when it answered, false on a network or server failure, 'fatal' when
  // the token is refused.
  async function pollOnce(gen, wait) {
    const w = wait === undefined ? 25 : wait;
    const ctrl = new AbortController();
    link.pollAbort = ctrl;
    const timer = setTimeout(() => ctrl.abort(), (w + 15) * 1000);
    try {
      const res = await fetch(cfg.dataURL + '/v1/events?after=' + link.seq + '&wait=' + w, {
        mode: 'cors',
        credentials: 'omit',
        cache: 'no-store',
        headers: { Authorization: 'Bearer ' + session.token },
        signal: ctrl.signal,
      });
      if (res.status === 401 || res.status === 403) return 'fatal';
      if (!res.ok) return false;
      const json = await res.json();
      if (gen === link.gen && isObject(json) && Array.isArray(json.events)) handleEvents(json.events);
      return true;
    } catch (_) {
      return false;
    } finally {
      clearTimeout(timer);
      if (link.pollAbort === ctrl) link.pollAbort = null;
    }
  }

  // The token no longer opens the chat (it ended long ago, or the store forgot it).
  function sessionLost(error) {
    publishError('session', error || {});
    finishSession({ chatId: session ? session.chatId : undefined, by: 'lost' });
  }

  // ---- events from the gateway

  function handleEvents(list) {
    let advanced = false;
    for (const ev of list) {
      if (!isObject(ev) || typeof ev.event !== 'string') continue;
      const seq = typeof ev.seq === 'number' ? ev.seq : 0;
      // Several events may share one seq (a stored ParticipantJoined yields messageReceived and
      // agentConnected), so deduplicate per (seq, event). Seq 0 (typing) is never stored.
      if (seq > 0) {
        const key = seq + ' ' + ev.event;
        if (link.seen.has(key)) continue;
        link.seen.add(key);
        if (link.seen.size > 4000) {
          // Sets iterate in insertion order: drop the oldest half.
          let n = 2000;
          for (const k of link.seen) {
            link.seen.delete(k);
            if (--n === 0) break;
          }
        }
        if (seq > link.seq) {
          link.seq = seq;
          advanced = true;
        }
      }
      try {
        onServerEvent(ev.event, seq, isObject(ev.data) ? ev.data : {});
      } catch (err) {
        report(err);
      }
      if (!session) break; // the chat ended in this batch
    }
    if (advanced && session) saveState();
  }

  function sessionData() {
    if (!session) return {};
    return {
      chatId: session.chatId,
      participantId: session.participantId,
      token: session.token,
      mode: session.mode,
      deployment: cfg.deploymentKey,
      seq: link.seq,
      // The names legacy Genesys pages read.
      sessionID: session.chatId,
      userId: session.participantId,
      secureKey: session.token,
      alias: cfg.deploymentKey,
    };
  }

  // A gateway message in the shape Genesys pages expect (from.id besides from.participantId).
  function mapMessage(raw, restoringFlag) {
    const m = Object.assign({}, raw);
    const from = isObject(raw.from) ? raw.from : {};
    m.from = Object.assign({}, from, { id: from.participantId !== undefined ? from.participantId : from.id });
    if (typeof m.text !== 'string') m.text = m.text === undefined || m.text === null ? '' : String(m.text);
    if (m.type === 'TypingStarted') m.isTyping = true;
    if (m.type === 'TypingStopped') m.isTyping = false;
    if (restoringFlag) m.restoring = true;
    return m;
  }

  const PAPERCLIP_SVG = '<svg width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false"><path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"/></svg>';

  function hidden(m) {
    if (m.type !== 'Message') return false;
    if (BUILTIN_FILTER.test(m.text)) return true;
    // sendFilteredMessage's regex travels with the message: hidden on every page and device.
    if (typeof m.filter === 'string' && m.filter) {
      const r = safeRegExp(m.filter);
      if (r && r.test(m.text)) return true;
    }
    return prefilters.some((r) => {
      r.lastIndex = 0; // a /g or /y pattern keeps state between test() calls
      return r.test(m.text);
    });
  }

  function preprocess(m) {
    let out = m;
    for (const fn of preprocessors) {
      try {
        const r = fn(out);
        if (isObject(r)) out = r;
      } catch (err) {
        report(err);
      }
    }
    return out;
  }

  const CONNECTION_EVENTS = /^(agent|client|supervisor|bot)(Connected|Disconnected)$/;

  function onServerEvent(name, seq, data) {
    const dot = name.indexOf('.');
    if (name.slice(0, dot) !== WCS) return;
    const evt = name.slice(dot + 1);
    const replay = seq > 0 && seq <= restoreUpTo;

    if (evt === 'messageReceived') return onMessages(data, seq, replay);
    if (evt === 'started') {
      if (!replay) wcs.publish('started', data);
      return;
    }
    if (evt === 'ended') return finishSession(data);
    if (evt === 'agentTypingStarted' || evt === 'agentTypingStopped') return agentTyping(evt === 'agentTypingStarted', mapMessage(data));
    if (CONNECTION_EVENTS.test(evt)) {
      if (isObject(data.agents)) agents = Object.assign({}, data.agents);
      const out = Object.assign({}, data);
      if (isObject(data.message)) out.message = mapMessage(data.message, replay);
      if (replay) out.restoring = true;
      wcs.publish(evt, out);
      return;
    }
    wcs.publish(evt, data); // anything newer than this client: pass it through
  }

  function onMessages(data, seq, replay, extra) {
    const raw = Array.isArray(data.messages) ? data.messages : [];
    const restoringFlag = !!data.restoring || replay;
    const shown = [];
    let agentSpoke = false;
    for (const r of raw) {
      if (!isObject(r)) continue;
      const m = mapMessage(r, restoringFlag);
      if (typeof m.index === 'number' && m.index > 0 && (!oldestIndex || m.index < oldestIndex)) oldestIndex = m.index;
      const t = m.from.type;
      if ((t === 'Agent' || t === 'Supervisor' || t === 'Bot') && (m.type === 'Message' || m.type === 'Notice')) agentSpoke = true;
      // A hidden message still has its side effects (typing, participants); it is just not shown.
      if (!hidden(m)) shown.push(preprocess(m));
    }
    if (agentSpoke && wcs.data('agentTyping')) agentTyping(false, null);
    if (!shown.length) return;
    wcs.publish(
      'messageReceived',
      Object.assign({ originalMessages: raw, messages: shown, restoring: restoringFlag, sessionData: sessionData() }, extra || {})
    );
  }

  let agentTypingTimer = null;
  function agentTyping(on, message) {
    clearTimeout(agentTypingTimer);
    if (on) {
      wcs.data('agentTyping', true);
      wcs.publish('agentTypingStarted', message || {});
      // No word from the agent for a while: stop showing "typing".
      agentTypingTimer = setTimeout(() => {
        wcs.data('agentTyping', false);
        wcs.publish('agentTypingTimeout', message || {});
        wcs.publish('agentTypingStopped', message || {});
      }, cfg.agentTypingTimeout);
    } else {
      wcs.data('agentTyping', false);
      wcs.publish('agentTypingStopped', message || {});
    }
  }

  // ---- session lifecycle

  function beginSession(d, upTo, startAfter) {
    session = {
      token: d.token,
      chatId: d.chatId,
      mode: d.mode || 'live',
      participantId: d.participantId,
      deployment: cfg.deploymentKey,
    };
    restoreUpTo = upTo || 0;
    link.seq = startAfter || 0;
    link.seen.clear();
    link.lost = false;
    link.failures = 0;
    link.offline = false;
    oldestIndex = 0;
    agents = {};
    pendingUserData = {};
    clearTimeout(ending);
    ending = null;
    saveState();
    startActivity();
    wcs.data('mode', session.mode);
    wcs.data('sessionData', sessionData());
    wcs.data('sessionActive', true);
    startStream();
  }

  // Ends this page's copy of the chat: stops the stream, forgets the state, publishes ended.
  function finishSession(data) {
    if (!session) return;
    const s = session;
    stopTyping(true);
    stopStream();
    stopActivity();
    clearTimeout(ending);
    clearTimeout(agentTypingTimer);
    ending = null;
    session = null;
    lastEnded = { token: s.token, chatId: s.chatId };
    restoreUpTo = 0;
    clearState(s.token);
    wcs.data('agentTyping', false);
    wcs.data('sessionActive', false);
    wcs.publish('ended', Object.assign({ chatId: s.chatId }, isObject(data) ? data : {}));
  }

  // Restores the chat kept in localStorage (page navigation, a second tab). Resolves
  // {ok:true, data} or {ok:false, message}.
  function restore(reason) {
    if (restoring) return restoring;
    restoring = (async () => {
      const st = loadState();
      if (!st) return { ok: false, message: TEXT.restoreNone };
      if (stale(st)) {
        clearState(st.token);
        wcs.publish('restoreTimeout');
        return { ok: false, message: TEXT.restoreNone };
      }
      let r;
      try {
        r = await gw(WCS + '.restore', {}, { token: st.token, retry: true });
      } catch (_) {
        // The gateway is out of reach: keep the chat; the stream reconnects when it can.
        r = { status: 'resolved', data: { chatId: st.chatId, mode: st.mode, seq: st.seq || 0 }, offline: true };
      }
      if (session) return { ok: false, message: TEXT.restoreActive }; // started meanwhile
      const code = isObject(r.error) ? r.error.code : '';
      if (r.status !== 'resolved' && code !== 'already_active') {
        if (r.httpStatus && r.httpStatus < 500) {
          clearState(st.token);
          wcs.publish('restoreFailed', isObject(r.error) ? r.error : {});
        }
        return { ok: false, message: TEXT.restoreNone, error: r };
      }
      const d = isObject(r.data) ? r.data : {};
      adoptFilters(st);
      // Everything up to the gateway's current seq is history: it is replayed from seq 1 with
      // "restoring": true so this page can rebuild the transcript.
      const upTo = typeof d.seq === 'number' ? d.seq : st.seq || 0;
      const mode = d.mode || st.mode || 'live';
      const chatId = d.chatId || st.chatId;
      resume({ token: st.token, chatId, mode, participantId: st.participantId }, upTo, reason);
      return { ok: true, data: Object.assign({ restored: true }, d) };
    })();
    restoring.then(() => (restoring = null), () => (restoring = null));
    return restoring;
  }

  // resume begins a restored session. A live chat replays its log from seq 1 with "restoring":
  // true so the page rebuilds the transcript. An asynchronous conversation may hold days of
  // history: the stream starts after its current seq and only the newest page is fetched;
  // older pages come with fetchHistory.
  function resume(d, upTo, reason) {
    const async = d.mode === 'async';
    beginSession(d, upTo, async ? upTo : 0);
    // Subscribers hear 'restored' before the replay arrives (callbacks run on the next tick,
    // the replay needs a round trip), as Genesys does.
    wcs.publish('restored', { chatId: d.chatId, mode: d.mode, async, reason });
    if (!async || upTo === 0) return;
    const s = session;
    gw(WCS + '.fetchHistory', { limit: cfg.maxMessagePageSize }).then(
      (r) => {
        if (session !== s || r.status !== 'resolved' || !isObject(r.data) || !Array.isArray(r.data.messages)) return;
        onMessages({ messages: r.data.messages, restoring: true }, 0, true);
      },
      () => {}
    );
  }

  function restoreFromSessionData(sessionDataToken) {
    restoring = (async () => {
      let r;
      try {
        r = await gw(WCS + '.restore', { sessionData: sessionDataToken }, { token: null, retry: true });
      } catch (_) {
        return { ok: false, message: TEXT.restoreNone };
      }
      if (session) return { ok: false, message: TEXT.restoreActive };
      if (r.status !== 'resolved' || !isObject(r.data) || !r.data.token) {
        wcs.publish('restoreFailed', isObject(r.error) ? r.error : {});
        return { ok: false, message: TEXT.restoreNone, error: r };
      }
      const d = r.data;
      keepIdentity(d);
      resume({ token: d.token, chatId: d.chatId, mode: d.mode || 'async', participantId: d.participantId },
        typeof d.seq === 'number' ? d.seq : 0, 'sessionData');
      return { ok: true, data: Object.assign({ restored: true }, d) };
    })();
    restoring.then(() => (restoring = null), () => (restoring = null));
    return restoring;
  }

  // ---- typing (ours)

  const typing = { active: false, lastSent: 0, idle: null, trailing: null, text: '' };

  function sendTypingNow(isTyping, text) {
    if (!session) return Promise.resolve({ status: 'rejected', error: { message: TEXT.noSession } });
    const opts = { isTyping };
    if (isTyping && typeof text === 'string') opts.message = text;
    return gw(WCS + '.sendTyping', opts).catch(() => ({ status: 'rejected', error: { message: 'network' } }));
  }

  // At most one "typing" request per second while keys come in; "stopped" 2 s after the last.
  function typingTick(text) {
    typing.text = typeof text === 'string' ? text : typing.text;
    if (!typing.active) {
      typing.active = true;
      wcs.publish('clientTypingStarted');
    }
    clearTimeout(typing.idle);
    typing.idle = setTimeout(() => stopTyping(false), 2000);
    const wait = typing.lastSent + 1000 - now();
    if (wait <= 0) {
      // A late trailing send (its timer queued behind this keystroke) would double this one.
      clearTimeout(typing.trailing);
      typing.trailing = null;
      typing.lastSent = now();
      return sendTypingNow(true, typing.text);
    }
    if (!typing.trailing) {
      typing.trailing = setTimeout(() => {
        typing.trailing = null;
        if (typing.active) {
          typing.lastSent = now();
          sendTypingNow(true, typing.text);
        }
      }, wait);
    }
    return Promise.resolve({ status: 'resolved', data: { throttled: true } });
  }

  function stopTyping(silent) {
    clearTimeout(typing.idle);
    clearTimeout(typing.trailing);
    typing.trailing = null;
    if (!typing.active) return;
    typing.active = false;
    typing.lastSent = 0;
    if (!silent) sendTypingNow(false);
    wcs.publish('clientTypingStopped');
  }

  const previewInputs = new WeakSet();

  // A textarea or text input, given as an element or a jQuery object. Checked by tag name, not
  // instanceof, so elements of other frames qualify too.
  function asInputElement(v) {
    let el = v;
    if (isObject(el) && el.nodeType !== 1 && el.length !== undefined) el = el[0]; // a jQuery object
    if (!isObject(el) || el.nodeType !== 1 || !isFn(el.addEventListener)) return null;
    const tag = String(el.tagName).toUpperCase();
    if (tag === 'TEXTAREA') return el;
    if (tag === 'INPUT' && /^(text|search|email|url|tel)$/i.test(el.type || 'text')) return el;
    return null;
  }

  // ---- commands

  const commands = {
    configure(e) {
      configure(e.data);
      e.deferred.resolve();
    },

    startChat(e) {
      // Async: another conversation of the same identity, started from the one this page holds.
      const another = !!e.data.newConversation && session && session.mode === 'async' && !starting;
      if ((session && !another) || starting) return e.deferred.reject(TEXT.alreadyActive);
      // A restore in flight decides: if the kept chat is gone, a new one may start.
      if (restoring) return void restoring.then(() => commands.startChat(e));
      if (!another && liveState()) return e.deferred.reject(TEXT.alreadyActive);
      let ud = e.data.userData;
      if (typeof ud === 'string') {
        try {
          ud = JSON.parse(ud);
        } catch (_) {
          return e.deferred.reject(TEXT.badUserData);
        }
      }
      if (ud !== undefined && ud !== null && !isPlainObject(ud)) return e.deferred.reject(TEXT.badUserData);
      const options = { userData: Object.assign({}, cfg.userData, pendingUserData, ud || {}) };
      for (const k of ['nickname', 'firstname', 'lastname', 'email', 'subject']) {
        if (e.data[k] !== undefined && e.data[k] !== null) options[k] = String(e.data[k]);
      }
      // Who the visitor is: a company uuid (signed where the deployment requires it), or the
      // identity of session data kept from another device.
      const identity = isPlainObject(e.data.identity) ? e.data.identity : cfg.identity;
      if (identity) options.identity = identity;
      if (typeof e.data.sessionData === 'string' && e.data.sessionData) options.sessionData = e.data.sessionData;
      else if (!another && loadIdentity()) options.identityToken = loadIdentity();
      if (another) options.newConversation = true;
      // The same requestId on a retry returns the same chat: a weak network never makes two.
      options.requestId = typeof e.data.requestId === 'string' && e.data.requestId.length >= 16 ? e.data.requestId : randomId();
      starting = true;
      const p = gw(WCS + '.startChat', options, { token: another ? session.token : null, retry: true });
      p.then(() => (starting = false), () => (starting = false));
      answer(e, p, (d) => {
        if (!isObject(d) || !d.token) return;
        keepIdentity(d);
        if (another) {
          // The old conversation stays open on the server; this page follows the new one.
          stopStream();
          session = null;
        }
        if (session) return;
        // Async: the identity's open conversation was resumed. It continues like a restore:
        // 'restored' {reason: 'resumed'}, then its newest page of history, each message once.
        if (d.resumed) resume({ token: d.token, chatId: d.chatId, mode: d.mode || 'async', participantId: d.participantId }, typeof d.seq === 'number' ? d.seq : 0, 'resumed');
        else beginSession(d, 0);
      });
    },

    endChat(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      const s = session;
      answer(e, gw(WCS + '.endChat', {}, { retry: true }), () => {
        // The 'ended' event normally arrives on the stream; don't wait for it forever.
        if (session === s && !ending) ending = setTimeout(() => session === s && finishSession({ chatId: s.chatId, by: 'visitor' }), 2000);
      });
    },

    sendMessage(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      const text = e.data.message;
      if (typeof text !== 'string' || !text.trim()) return e.deferred.reject(TEXT.noText);
      if (cfg.maxMessageLength && text.length > cfg.maxMessageLength) return e.deferred.reject(TEXT.tooLong(cfg.maxMessageLength));
      stopTyping(false);
      const opts = { message: text, requestId: typeof e.data.requestId === 'string' && e.data.requestId ? e.data.requestId : randomId() };
      if (typeof e.data.type === 'string') opts.type = e.data.type;
      answer(e, gw(WCS + '.sendMessage', opts, { retry: true }));
    },

    sendCustomNotice(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      const opts = {};
      if (e.data.message !== undefined) opts.message = String(e.data.message);
      answer(e, gw(WCS + '.sendCustomNotice', opts));
    },

    sendTyping(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      if (e.data.isTyping === false) {
        stopTyping(false);
        return e.deferred.resolve({});
      }
      answer(e, typingTick(typeof e.data.message === 'string' ? e.data.message : undefined));
    },

    sendFilteredMessage(e) {
      if (!session) return e.deferred.reject(TEXT.noSessionShort);
      const text = e.data.message;
      if (typeof text !== 'string' || !text) return e.deferred.reject(TEXT.noText);
      const r = e.data.regex;
      const regex = r instanceof RegExp ? r : typeof r === 'string' && r ? safeRegExp(r) : null;
      if (!regex) return e.deferred.reject(TEXT.badFilters);
      addFilters([regex]);
      answer(e, gw(WCS + '.sendFilteredMessage', { message: text, regex: regex.source }));
    },

    addPrefilter(e) {
      const list = flatten([e.data.filters]).map((f) => (f instanceof RegExp ? f : typeof f === 'string' && f ? safeRegExp(f) : null));
      if (!list.length || list.some((f) => !f)) return e.deferred.reject(TEXT.badFilters);
      addFilters(list);
      // Tell the gateway too (it hides them from other readers of the transcript).
      if (session) gw(WCS + '.addPrefilter', { filters: list.map((f) => f.source) }).catch(() => {});
      e.deferred.resolve(prefilters.slice());
    },

    updateUserData(e) {
      if (!isPlainObject(e.data)) return e.deferred.reject(TEXT.badUserData);
      if (!session) {
        pendingUserData = Object.assign({}, pendingUserData, e.data);
        const merged = Object.assign({}, cfg.userData, pendingUserData);
        wcs.data('userData', merged);
        return e.deferred.resolve(merged);
      }
      answer(e, gw(WCS + '.updateUserData', e.data, { retry: true }), (d) => {
        if (isObject(d) && isObject(d.userData)) wcs.data('userData', d.userData);
      });
    },

    poll(e) {
      if (e.commander !== WCS) return e.deferred.reject(TEXT.privatePoll);
      if (!session) return e.deferred.reject(TEXT.noSessionShort);
      // Block bodies: a settled deferred is a thenable, and returning a rejected one from a
      // native then() would leave an unhandled rejection behind.
      pollOnce(link.gen, 0).then((r) => {
        if (r === true) e.deferred.resolve();
        else e.deferred.reject('poll failed');
      });
    },

    startPoll(e) {
      if (!session) return e.deferred.reject(TEXT.noSessionShort);
      startStream();
      e.deferred.resolve();
    },

    stopPoll(e) {
      if (!session) return e.deferred.reject(TEXT.noSessionShort);
      stopStream();
      e.deferred.resolve();
    },

    resetPollExceptions(e) {
      link.failures = 0;
      wakeSleepers(); // retry now
      e.deferred.resolve();
    },

    restore(e) {
      if (session) return e.deferred.reject(TEXT.restoreActive);
      if (restoring) return e.deferred.reject(TEXT.restoring);
      if (typeof e.data.sessionData === 'string' && e.data.sessionData) {
        // Async on another browser or device: the session data buys a token for the conversation.
        restoreFromSessionData(e.data.sessionData).then((r) => settleRestore(e, r));
        return;
      }
      const st = loadState();
      if (!st) return e.deferred.reject(TEXT.restoreNone);
      // Live chats restore by themselves; only the widgets may ask (Genesys: "private in
      // Non-Async mode"). Async pages restore explicitly.
      if (st.mode !== 'async' && e.commander !== WCS && e.commander !== 'WebChat') return e.deferred.reject(TEXT.privateRestore);
      restore('command').then((r) => settleRestore(e, r));
    },

    getTranscript(e) {
      // Documented to resolve always: no chat, no messages. A chat this page just ended is read
      // while its token works, so the window can save it after the end.
      const token = session ? session.token : lastEnded ? lastEnded.token : null;
      if (!token) return e.deferred.resolve({ messages: [], originalMessages: [] });
      const settle = { deferred: { resolve: (d) => e.deferred.resolve(d), reject: () => e.deferred.resolve({ messages: [], originalMessages: [] }) } };
      answer(session ? e : settle, gw(WCS + '.getTranscript', {}, { token }), (d) => {
        const raw = isObject(d) && Array.isArray(d.messages) ? d.messages : [];
        return Object.assign({}, d, { messages: raw.map((m) => mapMessage(m)).filter((m) => !hidden(m)), originalMessages: raw });
      });
    },

    getAgents(e) {
      if (!session) return e.deferred.resolve({ agents: [] });
      answer(e, gw(WCS + '.getAgents', {}));
    },

    getStats(e) {
      if (!session) return e.deferred.resolve({ agents: [], startTime: 0, endTime: 0, duration: 0 });
      answer(e, gw(WCS + '.getStats', {}));
    },

    getSessionData(e) {
      if (!session || session.mode !== 'async') return e.deferred.resolve(sessionData());
      // Async: add the gateway's signed session data, which restores the conversation elsewhere.
      gw(WCS + '.getSessionData', {}).then(
        (r) => e.deferred.resolve(Object.assign(sessionData(), r.status === 'resolved' && isObject(r.data) && r.data.sessionData ? { sessionData: r.data.sessionData } : {})),
        () => e.deferred.resolve(sessionData())
      );
    },

    verifySession(e) {
      const token = session ? session.token : (loadState() || {}).token;
      if (!token) return e.deferred.resolve({ sessionActive: false });
      gw(WCS + '.verifySession', {}, { token }).then(
        (r) => e.deferred.resolve(r.status === 'resolved' && isObject(r.data) ? r.data : { sessionActive: !!session }),
        () => e.deferred.resolve({ sessionActive: !!session }) // offline: trust what we know
      );
    },

    fetchHistory(e) {
      if (session && session.mode !== 'async') return e.deferred.reject(TEXT.historyAsync);
      if (!session) return e.deferred.reject(TEXT.noSessionShort);
      const opts = { limit: typeof e.data.limit === 'number' ? e.data.limit : cfg.maxMessagePageSize };
      if (oldestIndex) opts.before = oldestIndex;
      answer(e, gw(WCS + '.fetchHistory', opts), (d) => {
        const msgs = isObject(d) && Array.isArray(d.messages) ? d.messages : [];
        if (!msgs.length) return undefined;
        onMessages({ messages: msgs, restoring: false }, 0, false, { oldMessages: true });
        return undefined;
      });
    },

    // Async: the identity's conversations, newest first, each with its last message and unread count.
    listConversations(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      answer(e, gw(WCS + '.listConversations', {}));
    },

    // Async: this page follows another conversation of the same identity. It resumes like a
    // restore: 'restored' {reason: 'switch'}, then the newest page of its history.
    switchConversation(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      if (typeof e.data.chatId !== 'string' || !e.data.chatId) return e.deferred.reject('No chatId provided.');
      const s = session;
      answer(e, gw(WCS + '.switchConversation', { chatId: e.data.chatId }), (d) => {
        if (session !== s || !isObject(d) || !d.token) return;
        stopStream();
        session = null;
        resume({ token: d.token, chatId: d.chatId, mode: d.mode || 'async', participantId: d.participantId },
          typeof d.seq === 'number' ? d.seq : 0, 'switch');
      });
    },

    // Async: the visitor has read its conversation up to seq (default: everything).
    markRead(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      answer(e, gw(WCS + '.markRead', typeof e.data.seq === 'number' ? { seq: e.data.seq } : {}));
    },

    // Who the visitor is, mid-chat: profile fields and extra values update the identity and the
    // chat goes on; another company uuid starts a new chat (a chat belongs to one identity),
    // which this page then follows.
    identify(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      const s = session;
      answer(e, gw(WCS + '.identify', e.data), (d) => {
        if (session !== s || !isObject(d) || !d.newChat || !d.token) return;
        stopStream();
        session = null;
        beginSession(d, 0);
      });
    },

    sendFile(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      let file = e.data.files;
      if (file && file.jquery) file = file[0];
      if (isObject(file) && file.nodeType === 1) file = file.files && file.files[0];
      else if (file && file.length !== undefined && !(file instanceof window.Blob)) file = file[0]; // a FileList
      if (!(file instanceof window.Blob)) return e.deferred.reject('No file provided.');
      const form = new FormData();
      form.append('file', file, file.name || 'file');
      fetch(cfg.dataURL + '/v1/files', { method: 'POST', mode: 'cors', credentials: 'omit', headers: { Authorization: 'Bearer ' + session.token }, body: form })
        .then(async (res) => {
          let json = null;
          try {
            json = await res.json();
          } catch (_) {
            /* not JSON */
          }
          if (res.status === 404 || res.status === 501) return e.deferred.reject(TEXT.noUploads);
          if (isObject(json) && json.status === 'resolved') return e.deferred.resolve(json.data);
          if (isObject(json) && json.status === undefined && res.ok) return e.deferred.resolve(json);
          if (isObject(json) && isObject(json.error)) return e.deferred.reject(json.error.message);
          e.deferred.reject({ status: res.status, statusText: res.statusText, responseJSON: json, errorReason: 'FileUploadError', filename: file.name });
        })
        .catch(() => {
          e.deferred.reject({ status: 0, statusText: 'error', errorReason: 'FileUploadError', filename: file.name });
        });
    },

    downloadFile(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      const id = e.data.fileId;
      if (id === undefined || id === null || id === '') return e.deferred.reject('No fileId provided.');
      fetch(cfg.dataURL + '/v1/files/' + encodeURIComponent(String(id)), { mode: 'cors', credentials: 'omit', headers: { Authorization: 'Bearer ' + session.token } })
        .then(async (res) => {
          if (!res.ok) return e.deferred.reject({ status: res.status, statusText: res.statusText });
          const url = URL.createObjectURL(await res.blob());
          const a = document.createElement('a');
          a.href = url;
          // The gateway's name first: its extension follows the content's type.
          a.download = dispositionName(res.headers.get('Content-Disposition')) || (typeof e.data.fileName === 'string' && e.data.fileName) || 'file';
          document.body.appendChild(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 60000);
          e.deferred.resolve();
        })
        .catch(() => {
          e.deferred.reject({ status: 0, statusText: 'error' });
        });
    },

    // Whether the deployment takes files, and its limits: {enabled, maxBytes, maxUploads, types,
    // uploads, messageChars}.
    getFileLimits(e) {
      answer(e, gw(WCS + '.getFileLimits', {}));
    },

    // A file of the chat as a Blob, for showing it in the page (an image's preview): {blob, name, type}.
    fetchFile(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      const id = e.data.fileId;
      if (id === undefined || id === null || id === '') return e.deferred.reject('No fileId provided.');
      fetch(cfg.dataURL + '/v1/files/' + encodeURIComponent(String(id)), { mode: 'cors', credentials: 'omit', headers: { Authorization: 'Bearer ' + session.token } })
        .then(async (res) => {
          if (!res.ok) return e.deferred.reject({ status: res.status, statusText: res.statusText });
          const blob = await res.blob();
          e.deferred.resolve({ blob, name: dispositionName(res.headers.get('Content-Disposition')), type: blob.type });
        })
        .catch(() => e.deferred.reject({ status: 0, statusText: 'error' }));
    },

    // The waiting chat's place in its queue: {position, queue}, position 0 when it is not waiting.
    getQueuePosition(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      answer(e, gw(WCS + '.getQueuePosition', {}));
    },

    // Whether a chat would be served now: {probability, agentsOnline, agentsWithCapacity,
    // freeSlots, queued} for the deployment (GET /v1/availability's answer).
    getAvailability(e) {
      const opts = { deployment: cfg.deploymentKey };
      for (const k of ['skills', 'language']) if (e.data[k] !== undefined) opts[k] = e.data[k];
      answer(e, gw(WCS + '.getAvailability', opts));
    },

    registerTypingPreviewInput(e) {
      const input = asInputElement(e.data.input);
      if (!input) return e.deferred.reject(TEXT.badInput);
      if (!previewInputs.has(input)) {
        previewInputs.add(input);
        input.addEventListener('input', () => {
          if (session && input.value) typingTick(input.value);
          else if (session) stopTyping(false);
        });
      }
      e.deferred.resolve();
    },

    // Proactive engagement (docs/proactive.md). leaveMessage needs no chat: the deployment and
    // the kept identity, if any, name the visitor, and the answer comes back to that identity.
    leaveMessage(e) {
      const opts = {};
      for (const k of ['name', 'email', 'message']) if (e.data[k] !== undefined && e.data[k] !== null) opts[k] = String(e.data[k]);
      if (!opts.message || !opts.message.trim()) return e.deferred.reject(TEXT.noText);
      if (isPlainObject(e.data.context)) opts.context = e.data.context;
      if (loadIdentity()) opts.identityToken = loadIdentity();
      answer(e, gw(WCS + '.leaveMessage', opts, { token: null }), (d) => keepIdentity(d));
    },

    // After the chat: the visitor rates the chat this page just ended, once: {rating: 1–5,
    // comment}. The gateway takes it while the ended chat's token works (its restore window).
    rateChat(e) {
      if (session) return e.deferred.reject(TEXT.rateOpen);
      if (!lastEnded) return e.deferred.reject(TEXT.noRateSession);
      const opts = { rating: e.data.rating };
      if (e.data.comment !== undefined && e.data.comment !== null) opts.comment = String(e.data.comment);
      answer(e, gw(WCS + '.rateChat', opts, { token: lastEnded.token }));
    },

    // The messages this browser's identity left, with their answers.
    listLeftMessages(e) {
      if (!loadIdentity()) return e.deferred.resolve({ messages: [] });
      answer(e, gw(WCS + '.listLeftMessages', { identityToken: loadIdentity() }, { token: null }));
    },

    // The visit's context (pages, variables…) for the agent of the chat.
    updateContext(e) {
      if (!session) return e.deferred.reject(TEXT.noSession);
      if (!isPlainObject(e.data.context)) return e.deferred.reject('No context provided.');
      answer(e, gw(WCS + '.updateContext', { context: e.data.context }, { retry: true }));
    },

    // Async: continues the open conversation of the identity this browser keeps, if it has
    // one; never starts a chat. Resolves like a restore ('restored' {reason: 'resumed'}).
    openConversation(e) {
      if (session) return e.deferred.resolve(sessionData());
      if (starting || restoring) return e.deferred.reject(TEXT.alreadyActive);
      const opts = loadIdentity() ? { identityToken: loadIdentity() } : cfg.identity ? { identity: cfg.identity } : null;
      if (!opts) return e.deferred.reject('No open conversation.');
      answer(e, gw(WCS + '.openConversation', opts, { token: null }), (d) => {
        if (!isObject(d) || !d.token) return;
        keepIdentity(d);
        if (!session) resume({ token: d.token, chatId: d.chatId, mode: d.mode || 'async', participantId: d.participantId }, typeof d.seq === 'number' ? d.seq : 0, 'resumed');
      });
    },

    registerPreProcessor(e) {
      const fn = e.data.preprocessor;
      if (!isFn(fn)) return e.deferred.reject(TEXT.noPreprocessor(typeof fn));
      preprocessors.push(fn);
      e.deferred.resolve(fn);
    },
  };

  // The file name of a Content-Disposition header: filename*=utf-8''… first, then filename="…".
  function dispositionName(header) {
    if (typeof header !== 'string') return '';
    const star = /filename\*=utf-8''([^;]+)/i.exec(header);
    if (star) {
      try {
        return decodeURIComponent(star[1]);
      } catch (_) {
        /* malformed: try the plain form */
      }
    }
    const plain = /filename="((?:[^"\\]|\\.)*)"|filename=([^;\s]+)/i.exec(header);
    if (!plain) return '';
    return plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : plain[2];
  }

  function settleRestore(e, r) {
    if (r.ok) e.deferred.resolve(r.data);
    else e.deferred.reject(r.message);
  }

  function safeRegExp(source) {
    try {
      return new RegExp(source);
    } catch (_) {
      return null;
    }
  }

  function addFilters(list) {
    for (const r of list) if (!prefilters.some((p) => p.source === r.source && p.flags === r.flags)) prefilters.push(r);
    if (session) saveState(); // other tabs and the next page hide them too
  }

  for (const name of Object.keys(commands)) wcs.registerCommand(name, commands[name]);
  wcs.registerEvents([
    'ready', 'started', 'restored', 'restoreFailed', 'restoreTimeout', 'messageReceived', 'error', 'ended',
    'agentTypingStarted', 'agentTypingStopped', 'agentTypingTimeout', 'clientTypingStarted', 'clientTypingStopped',
    'agentConnected', 'agentDisconnected', 'clientConnected', 'clientDisconnected', 'supervisorConnected',
    'supervisorDisconnected', 'botConnected', 'botDisconnected', 'pollingStarted', 'pollingStopped',
    'disconnected', 'reconnected', 'chatServerWentOffline', 'chatServerBackOnline',
  ]);

  wcs.subscribe('App.ready', (e) => {
    if (configured) return;
    const widgets = isObject(e.data) ? e.data : {};
    wcs.command('configure', isObject(widgets.webchat) ? widgets.webchat : {}).always(() => {
      wcs.data('sessionActive', false);
      // keptChat: a chat kept from the previous page (or another tab) is being restored; the
      // Chat Manager waits for it before deciding what the page shows.
      const kept = !!loadState();
      wcs.data('keptChat', kept);
      wcs.ready();
      wcs.republish('ready');
      if (kept) restore('navigation').then(() => wcs.data('keptChat', false), () => wcs.data('keptChat', false));
    });
  });

  // Another tab of the site started, restored or ended the chat.
  window.addEventListener('storage', (ev) => {
    if (!configured || ev.key !== stateKey()) return;
    let st = null;
    try {
      st = ev.newValue ? JSON.parse(ev.newValue) : null;
    } catch (_) {
      st = null;
    }
    if (!st || !st.token) {
      // The chat ended in another tab. Our own stream normally says so too (with the last
      // messages first); give it a moment before ending here.
      const s = session;
      if (s && !ev.newValue) setTimeout(() => session === s && finishSession({ chatId: s.chatId, by: 'visitor' }), 1500);
      return;
    }
    if (session && session.token === st.token) {
      adoptFilters(st);
      return;
    }
    if (!session && !starting && !restoring) restore('tab');
  });

  // Network hints from the browser: retry at once when back online; when going offline drop
  // the socket so the loss is noticed now rather than at the next heartbeat.
  window.addEventListener('online', wakeSleepers);
  window.addEventListener('offline', () => {
    if (link.ws) safeClose(link.ws, 4000);
  });
  window.addEventListener('pagehide', () => {
    if (session) saveState();
  });

  /* ---------------------------------------------------------------- 6. WebChat */

  const WC = 'WebChat';
  const wc = createPlugin(WC);
  const P = 'cxgw-'; // class prefix of everything the window renders

  const CSS = `
.${P}root{position:fixed;right:16px;bottom:16px;z-index:2147483000;width:360px;max-width:calc(100vw - 32px);height:540px;max-height:calc(100vh - 32px);display:flex;flex-direction:column;background:#fff;color:#1f2328;border:1px solid #d0d7de;border-radius:12px;box-shadow:0 8px 28px rgba(0,0,0,.22);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;overflow:hidden;text-align:left;letter-spacing:normal}
.${P}root *{box-sizing:border-box;margin:0;font:inherit;color:inherit;letter-spacing:inherit}
.${P}root [hidden]{display:none!important}
.${P}root.${P}minimized{height:auto}
.${P}root[hidden],.${P}launcher[hidden]{display:none!important}
.${P}root.${P}minimized .${P}body{display:none}
.${P}header{display:flex;align-items:center;gap:4px;padding:6px 6px 6px 14px;background:#0b5cad;color:#fff;flex:none}
.${P}heading{flex:1;min-width:0}
.${P}title{font-weight:600;font-size:15px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.${P}sub{font-size:12px;opacity:.92;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.${P}sub:empty{display:none}
.${P}unread{background:#fff;color:#0b5cad;border-radius:10px;padding:0 7px;font-size:12px;font-weight:700}
.${P}icon{background:transparent;border:0;color:#fff;min-width:40px;height:40px;border-radius:6px;cursor:pointer;font-size:18px;line-height:1}
.${P}icon:hover{background:rgba(255,255,255,.18)}
.${P}root :focus-visible{outline:3px solid #f0b400;outline-offset:1px}
.${P}body{flex:1;display:flex;flex-direction:column;min-height:0}
.${P}form{padding:16px;display:flex;flex-direction:column;gap:12px;overflow:auto}
.${P}field{display:flex;flex-direction:column;gap:4px;font-weight:600}
.${P}input{width:100%;padding:9px 10px;border:1px solid #8c959f;border-radius:6px;background:#fff;font-weight:400}
.${P}btn{padding:9px 14px;border-radius:6px;border:1px solid #0b5cad;background:#0b5cad;color:#fff;cursor:pointer;font-weight:600}
.${P}btn[disabled]{opacity:.6;cursor:default}
.${P}btn2{background:#fff;color:#0b5cad}
.${P}error{color:#b3261e}
.${P}chat{flex:1;display:flex;flex-direction:column;min-height:0}
.${P}log{flex:1;overflow-y:auto;list-style:none;padding:12px;display:flex;flex-direction:column;gap:8px;overscroll-behavior:contain}
.${P}msg{max-width:85%;padding:7px 10px;border-radius:10px;background:#eef1f4;align-self:flex-start;white-space:pre-wrap;overflow-wrap:anywhere}
.${P}mine{align-self:flex-end;background:#0b5cad;color:#fff}
.${P}pending{opacity:.65}
.${P}failed{outline:2px solid #b3261e}
.${P}name{display:block;font-size:12px;font-weight:600;opacity:.85}
.${P}time{display:block;font-size:11px;opacity:.75;text-align:right}
.${P}notice{align-self:center;font-size:12px;color:#57606a;text-align:center;max-width:90%;overflow-wrap:anywhere}
.${P}typing{min-height:18px;padding:0 12px;font-size:12px;color:#57606a;font-style:italic;flex:none}
.${P}status{padding:0 12px;font-size:12px;color:#8a5a00;flex:none}
.${P}compose{display:flex;gap:8px;padding:8px 12px;border-top:1px solid #d0d7de;flex:none}
.${P}compose textarea{flex:1;resize:none;height:44px;max-height:120px;overflow-y:auto}
.${P}attach{flex:none;padding:0 10px;display:inline-flex;align-items:center;justify-content:center}
.${P}att{padding:5px}
.${P}att .${P}name,.${P}att .${P}time{padding:0 5px}
.${P}thumb{display:block;background:none;border:0;padding:0;cursor:zoom-in;border-radius:7px;overflow:hidden;min-width:60px;min-height:40px}
.${P}thumb img{display:block;max-width:100%;max-height:220px;border-radius:7px}
.${P}card{display:flex;align-items:center;gap:10px;width:100%;min-width:190px;padding:8px;border:1px solid #d0d7de;border-radius:8px;background:#fff;color:#1f2328;cursor:pointer;text-align:left}
.${P}card:hover{background:#f6f8fa}
.${P}ext{flex:none;width:38px;height:44px;border-radius:5px;background:#0b5cad;color:#fff;font-size:11px;font-weight:700;display:flex;align-items:center;justify-content:center;text-transform:uppercase;overflow:hidden}
.${P}fmeta{display:flex;flex-direction:column;min-width:0}
.${P}fname{font-weight:600;overflow-wrap:anywhere;white-space:normal}
.${P}finfo{font-size:12px;color:#57606a}
.${P}viewer{position:absolute;inset:0;z-index:2;display:flex;flex-direction:column;background:#101418;color:#fff}
.${P}viewer .${P}vbar{display:flex;align-items:center;gap:4px;padding:6px 6px 6px 14px;flex:none}
.${P}viewer .${P}vname{flex:1;min-width:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;font-weight:600}
.${P}viewer .${P}vimg{flex:1;min-height:0;display:flex;align-items:center;justify-content:center;padding:0 12px 12px;overflow:auto}
.${P}viewer img{max-width:100%;max-height:100%;object-fit:contain;background:#fff}
.${P}wait{margin:0 12px 8px;padding:10px 12px;border-radius:8px;background:#fff8e5;border:1px solid #eed48a;font-size:13px;flex:none;display:flex;flex-direction:column;gap:4px}
.${P}wait strong{font-weight:600}
.${P}offer{display:flex;flex-direction:column;gap:6px;align-items:flex-start;border-top:1px solid #eed48a;margin-top:4px;padding-top:8px}
.${P}formoffer{padding:10px 12px;border-radius:8px;background:#fff8e5;border:1px solid #eed48a;display:flex;flex-direction:column;gap:8px;align-items:flex-start}
.${P}count{padding:0 12px;font-size:12px;color:#57606a;text-align:right;flex:none}
.${P}count.${P}over{color:#b3261e;font-weight:600}
.${P}done{gap:16px}
.${P}form .${P}footer{padding:0}
.${P}footer{display:flex;justify-content:flex-end;align-items:center;flex-wrap:wrap;gap:8px;padding:0 12px 10px;flex:none}
.${P}footer p{flex:1;min-width:120px}
.${P}after{flex:none;overflow-y:auto;max-height:75%}
.${P}rating{padding:8px 12px;border-top:1px solid #d0d7de;display:flex;flex-direction:column;gap:6px}
.${P}rate{display:flex;flex-direction:column;gap:6px}
.${P}starrow{display:flex;align-items:center;flex-wrap:wrap;gap:2px 8px}
.${P}question{font-weight:600}
.${P}stars{display:flex;gap:0}
.${P}star{cursor:pointer;font-size:26px;line-height:1;color:#8c959f;padding:1px 2px;border-radius:6px}
.${P}star:hover{color:#b36b00}
.${P}star.${P}on{color:#d48800}
.${P}stars input:focus-visible+.${P}star{outline:3px solid #f0b400}
.${P}hint{font-size:13px;color:#57606a}
.${P}rate textarea{resize:vertical;height:44px;min-height:44px;max-height:120px}
.${P}rateactions{display:flex;justify-content:space-between;align-items:center;gap:8px}
.${P}link{background:none;border:0;padding:6px 0;color:#0b5cad;text-decoration:underline;cursor:pointer;font-weight:600}
.${P}thanks{color:#1a7f37;font-weight:600}
.${P}sr{position:absolute!important;width:1px;height:1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap;border:0}
.${P}launcher{position:fixed;right:16px;bottom:16px;z-index:2147482999;padding:12px 18px;border-radius:24px;border:0;background:#0b5cad;color:#fff;font:600 15px system-ui,sans-serif;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}
.${P}root.${P}embedded{position:relative;right:auto;bottom:auto;left:auto;top:auto;z-index:auto;width:100%;max-width:none;height:100%;min-height:440px;max-height:none;box-shadow:none;border-radius:8px;border:1px solid #d0d7de}
.${P}embedded .${P}icon{display:none}
@media (max-width:480px){.${P}root{right:0;bottom:0;left:0;width:100%;max-width:none;height:100%;max-height:100%;border-radius:0;border:0}.${P}root.${P}minimized{height:auto;top:auto}}
`;

  const ui = {
    root: null,
    els: {},
    open: false,
    minimized: false,
    view: 'form', // form | chat | ended
    start: {}, // WebChat.open's form and userData: what the next start sends besides the form
    chatId: null, // chat the transcript belongs to
    keys: new Set(), // rendered message keys (no message shown twice)
    items: [], // transcript model: [{m, restoring}], kept while the window is closed
    pending: new Map(), // requestId -> <li> of a message being sent
    unread: 0,
    mode: '',
    agentTyping: '',
    launcher: null,
    config: {},
    embed: null, // the page element the window lives in (WebChat.embed), else floating
    agents: {}, // participantId -> {name, connected, supervisor}: who is in the live chat
    position: 0, // the waiting chat's place in its queue (queuePosition), 0 when not known or served
    recentWait: -1, // the queue's median recent wait in seconds (queuePosition's recentWait), -1 unknown
    avail: null, // the last availability answer ({agentsOnline, probability…}), null when unknown
    availTimer: null, // re-asks the availability while the visitor waits
    limit: 0, // longest message text, in characters (limits.messageChars, webchat.maxMessageLength)
    blobs: [], // object URLs of the image previews of the shown chat
    leaveFrom: 'form', // the view the leave-a-message form returns to
  };

  // Small DOM builder: text goes in with textContent, never as HTML.
  function h(tag, attrs, children) {
    const el = document.createElement(tag);
    for (const k of Object.keys(attrs || {})) {
      const v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v.split(' ').map((c) => P + c).join(' ');
      else if (k === 'text') el.textContent = v;
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children || []) if (c) el.appendChild(c);
    return el;
  }

  // The window's styles go in as a constructed stylesheet where the browser has them: a page's
  // Content-Security-Policy governs <style> elements (style-src 'unsafe-inline') but not
  // constructed sheets, so the window keeps its looks on strict pages, the gateway's own included.
  let sheet = null;
  function injectStyles() {
    if (sheet || document.getElementById(P + 'style')) return;
    if (typeof CSSStyleSheet === 'function' && 'adoptedStyleSheets' in document) {
      try {
        sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
        return;
      } catch (e) {
        sheet = null; // an older engine: the <style> element below
      }
    }
    const s = document.createElement('style');
    s.id = P + 'style';
    s.textContent = CSS;
    (document.head || document.documentElement).appendChild(s);
  }

  function uiState(patch) {
    // Per tab: whether the window was open, so the next page of the site shows it again.
    const key = 'cxgate.webchat.ui';
    let st = {};
    try {
      st = JSON.parse(window.sessionStorage.getItem(key)) || {};
      if (patch) window.sessionStorage.setItem(key, JSON.stringify(Object.assign(st, patch)));
    } catch (_) {
      /* storage disabled */
    }
    return st;
  }

  function buildWindow() {
    if (ui.root) return;
    injectStyles();
    const title = typeof ui.config.title === 'string' && ui.config.title ? ui.config.title : 'Chat with us';
    const e = ui.els;
    const uid = P + Math.random().toString(36).slice(2, 8);

    e.unread = h('span', { class: 'unread', hidden: true, 'aria-hidden': 'true' });
    e.minBtn = h('button', { type: 'button', class: 'icon', 'aria-label': 'Minimize chat', title: 'Minimize', text: '\u2013', onclick: () => wc.command('minimize') });
    e.closeBtn = h('button', { type: 'button', class: 'icon', 'aria-label': 'Close chat', title: 'Close', text: '\u00d7', onclick: onCloseClick });
    e.title = h('h2', { class: 'title', id: uid + '-t', text: title });
    // Who the visitor talks with (or that it waits for one), under the title.
    e.sub = h('p', { class: 'sub' });
    const header = h('div', { class: 'header' }, [h('div', { class: 'heading' }, [e.title, e.sub]), e.unread, e.minBtn, e.closeBtn]);

    // Start form.
    e.nickname = h('input', { class: 'input', name: 'nickname', id: uid + '-n', autocomplete: 'nickname', required: true, maxlength: '100' });
    e.email = h('input', { class: 'input', name: 'email', id: uid + '-e', type: 'email', autocomplete: 'email', maxlength: '200' });
    e.formError = h('p', { class: 'error', role: 'alert' });
    e.formOffer = h('div', { class: 'formoffer', role: 'status', hidden: true }, [
      h('p', { text: 'Nobody is available to chat right now. You can still start a chat and wait, or leave us a message and we will answer by email.' }),
      h('button', { type: 'button', class: 'btn btn2', text: 'Leave a message', onclick: () => openLeave('form') }),
    ]);
    e.startBtn = h('button', { type: 'submit', class: 'btn', text: 'Start chat' });
    e.form = h('form', { class: 'form', novalidate: true, onsubmit: onStartSubmit }, [
      h('p', { text: 'Tell us your name and we will connect you with someone who can help.' }),
      h('label', { class: 'field', for: uid + '-n' }, [document.createTextNode('Name')]),
      e.nickname,
      h('label', { class: 'field', for: uid + '-e' }, [document.createTextNode('Email (optional)')]),
      e.email,
      e.formError,
      e.startBtn,
      e.formOffer,
    ]);

    // Transcript and compose box.
    e.log = h('ol', { class: 'log', role: 'log', 'aria-live': 'off', 'aria-label': 'Messages', tabindex: '0' });
    e.typing = h('div', { class: 'typing', 'aria-hidden': 'true' });
    e.status = h('div', { class: 'status', role: 'status' });
    e.waitPos = h('span');
    e.offer = h('div', { class: 'offer', hidden: true }, [
      h('span', { text: 'Nobody is available to chat right now.' }),
      h('button', { type: 'button', class: 'btn btn2', text: 'Leave a message instead', onclick: () => openLeave('chat') }),
    ]);
    e.wait = h('div', { class: 'wait', role: 'status', hidden: true }, [h('strong', { text: 'Waiting for an agent\u2026' }), e.waitPos, e.offer]);
    e.count = h('div', { class: 'count', hidden: true });
    e.text = h('textarea', { class: 'input', id: uid + '-m', rows: '1', placeholder: 'Type your message', onkeydown: onTextKey, oninput: refreshCount });
    applyLimit();
    e.sendBtn = h('button', { type: 'submit', class: 'btn', text: 'Send' });
    // Files: the button shows only when the deployment takes files (getFileLimits).
    e.fileInput = h('input', { type: 'file', class: 'sr', tabindex: '-1', 'aria-hidden': 'true', onchange: onFilePicked });
    e.attachBtn = h('button', { type: 'button', class: 'btn btn2 attach', title: 'Attach a file', 'aria-label': 'Attach a file', hidden: true, onclick: () => e.fileInput.click() });
    e.attachBtn.innerHTML = PAPERCLIP_SVG; // a constant: an icon font or emoji may be missing on the visitor's machine
    e.compose = h('form', { class: 'compose', onsubmit: onSendSubmit }, [h('label', { class: 'sr', for: uid + '-m', text: 'Message' }), e.text, e.attachBtn, e.fileInput, e.sendBtn]);
    e.endBtn = h('button', { type: 'button', class: 'btn btn2', text: 'End chat', onclick: () => showConfirm(true) });
    e.saveBtn = h('button', { type: 'button', class: 'link', text: 'Save transcript', title: 'Download this chat as a text file', onclick: downloadTranscript });
    e.actions = h('div', { class: 'footer' }, [e.saveBtn, e.endBtn]);
    e.confirmYes = h('button', { type: 'button', class: 'btn', text: 'End chat', onclick: () => { showConfirm(false); endChatNow(); } });
    e.confirmNo = h('button', { type: 'button', class: 'btn btn2', text: 'Keep chatting', onclick: () => showConfirm(false) });
    e.confirm = h('div', { class: 'footer', role: 'group', 'aria-label': 'Confirm end chat', hidden: true }, [h('p', { text: 'End this chat?' }), e.confirmNo, e.confirmYes]);
    e.newBtn = h('button', { type: 'button', class: 'btn', text: 'Start a new chat', onclick: () => setView('form') });
    e.doneBtn = h('button', { type: 'button', class: 'btn btn2', text: 'Close', onclick: () => wc.command('close') });
    e.ended = h('div', { class: 'after', hidden: true }, [
      buildRating(uid),
      h('div', { class: 'footer' }, [h('p', { text: 'This chat has ended.' }), e.doneBtn, e.newBtn]),
    ]);
    e.chat = h('div', { class: 'chat' }, [e.log, e.wait, e.typing, e.status, e.count, e.compose, e.actions, e.confirm, e.ended]);

    // Leave a message (WebChatService.leaveMessage), when nobody can chat: the Chat Manager's
    // offline form, inside the window.
    const field = (label, input) => {
      input.id = uid + '-' + input.name;
      return [h('label', { class: 'field', for: input.id, text: label }), input];
    };
    e.lName = h('input', { class: 'input', name: 'lname', autocomplete: 'name', maxlength: '100' });
    e.lEmail = h('input', { class: 'input', name: 'lemail', type: 'email', autocomplete: 'email', maxlength: '254' });
    e.lText = h('textarea', { class: 'input', name: 'lmessage', rows: '5' });
    e.lError = h('p', { class: 'error', role: 'alert' });
    e.lSend = h('button', { type: 'submit', class: 'btn', text: 'Send message' });
    e.lBack = h('button', { type: 'button', class: 'btn btn2', text: 'Back', onclick: () => setView(ui.leaveFrom === 'chat' && wcs.data('sessionActive') ? 'chat' : 'form') });
    e.leave = h('form', { class: 'form', novalidate: true, hidden: true, onsubmit: onLeaveSubmit }, [
      h('p', { text: 'Leave us a message and we will answer you by email.' }),
      ...field('Name', e.lName),
      ...field('Email', e.lEmail),
      ...field('Message', e.lText),
      e.lError,
      h('div', { class: 'footer' }, [e.lBack, e.lSend]),
    ]);
    e.leftText = h('p');
    e.leftClose = h('button', { type: 'button', class: 'btn', text: 'Close', onclick: () => wc.command('close') });
    e.left = h('div', { class: 'form done', role: 'status', hidden: true }, [e.leftText, h('div', { class: 'footer' }, [h('button', { type: 'button', class: 'btn btn2', text: 'Start a chat', onclick: () => setView('form') }), e.leftClose])]);

    // An image at full size, over the window.
    e.viewerName = h('span', { class: 'vname' });
    e.viewerImg = h('img', { alt: '' });
    e.viewerDl = h('button', { type: 'button', class: 'icon', 'aria-label': 'Download', title: 'Download', text: '\u2913' });
    e.viewerClose = h('button', { type: 'button', class: 'icon', 'aria-label': 'Close image', title: 'Close', text: '\u00d7', onclick: closeViewer });
    e.viewer = h('div', { class: 'viewer', role: 'dialog', 'aria-label': 'Image', hidden: true }, [
      h('div', { class: 'vbar' }, [e.viewerName, e.viewerDl, e.viewerClose]),
      h('div', { class: 'vimg', onclick: (ev) => ev.target === ev.currentTarget && closeViewer() }, [e.viewerImg]),
    ]);

    // Screen readers hear new incoming messages here (not the replayed transcript).
    e.live = h('div', { class: 'sr', 'aria-live': 'polite', 'aria-atomic': 'true' });

    ui.root = h('div', { class: ui.embed ? 'root embedded' : 'root', role: ui.embed ? 'region' : 'dialog', 'aria-labelledby': uid + '-t', hidden: true, onkeydown: onRootKey }, [
      header,
      h('div', { class: 'body' }, [e.form, e.chat, e.leave, e.left]),
      e.viewer,
      e.live,
    ]);
    (ui.embed || document.body).appendChild(ui.root);
    wcs.command('registerTypingPreviewInput', { input: e.text });
    if (wcs.data('sessionActive')) refreshFileLimits();
    for (const it of ui.items) renderItem(it.m, it.restoring);
    refreshTyping();
    refreshWaiting();
  }

  /* After the chat: an optional rating (1–5 stars and a comment, WebChatService.rateChat) and
     the transcript saved as a text file. */

  const RATING_LABELS = ['', 'Very poor', 'Poor', 'Okay', 'Good', 'Excellent'];

  function buildRating(uid) {
    const e = ui.els;
    e.rateStars = [];
    const stars = h('div', { class: 'stars', role: 'radiogroup', 'aria-labelledby': uid + '-rq' });
    for (let v = 1; v <= 5; v++) {
      const input = h('input', { type: 'radio', name: uid + '-rating', id: uid + '-r' + v, value: String(v), class: 'sr', onchange: () => pickRating(v) });
      const label = h('label', { for: uid + '-r' + v, class: 'star', title: RATING_LABELS[v] }, [
        h('span', { 'aria-hidden': 'true', text: '\u2605' }),
        h('span', { class: 'sr', text: v + ' of 5, ' + RATING_LABELS[v] }),
      ]);
      e.rateStars.push({ input, label });
      stars.appendChild(input);
      stars.appendChild(label);
    }
    e.rateHint = h('span', { class: 'hint', 'aria-hidden': 'true' });
    e.rateComment = h('textarea', { class: 'input', id: uid + '-rc', rows: '2', maxlength: '1000', placeholder: 'Tell us more (optional)' });
    e.rateError = h('p', { class: 'error', role: 'alert' });
    // The send button sits in the row below the form (form attribute), beside "Save transcript",
    // which stays once the rating is sent.
    e.rateBtn = h('button', { type: 'submit', form: uid + '-rf', class: 'btn', text: 'Send rating', disabled: true });
    e.rateForm = h('form', { class: 'rate', id: uid + '-rf', onsubmit: onRateSubmit }, [
      h('div', { class: 'starrow' }, [h('p', { class: 'question', id: uid + '-rq', text: 'How was this chat?' }), stars, e.rateHint]),
      h('label', { class: 'sr', for: uid + '-rc', text: 'Comment' }),
      e.rateComment,
      e.rateError,
    ]);
    e.rateThanks = h('p', { class: 'thanks', role: 'status', hidden: true });
    e.saveBtn2 = h('button', { type: 'button', class: 'link', text: 'Save transcript', title: 'Download this chat as a text file', onclick: downloadTranscript });
    return h('div', { class: 'rating' }, [e.rateForm, e.rateThanks, h('div', { class: 'rateactions' }, [e.saveBtn2, e.rateBtn])]);
  }

  function pickRating(v) {
    const e = ui.els;
    ui.rating = v;
    e.rateStars.forEach((s, i) => s.label.classList.toggle(P + 'on', i < v));
    e.rateHint.textContent = RATING_LABELS[v];
    e.rateBtn.disabled = false;
    e.rateError.textContent = '';
  }

  // A fresh rating form for the chat that just ended.
  function resetRating() {
    const e = ui.els;
    if (!e.rateForm) return;
    ui.rating = 0;
    for (const s of e.rateStars) {
      s.input.checked = false;
      s.label.classList.remove(P + 'on');
    }
    e.rateHint.textContent = '';
    e.rateComment.value = '';
    e.rateError.textContent = '';
    e.rateBtn.disabled = true;
    e.rateForm.hidden = false;
    e.rateBtn.hidden = false;
    e.rateThanks.hidden = true;
  }

  function onRateSubmit(ev) {
    ev.preventDefault();
    const e = ui.els;
    if (!ui.rating) return;
    e.rateBtn.disabled = true;
    wc.command(WCS + '.rateChat', { rating: ui.rating, comment: e.rateComment.value.trim() })
      .done(() => {
        e.rateForm.hidden = true;
        e.rateBtn.hidden = true;
        e.rateThanks.textContent = 'Thank you for your feedback.';
        e.rateThanks.hidden = false;
        announce('Thank you for your feedback.');
      })
      .fail((err) => {
        e.rateBtn.disabled = false;
        if (err === 'This chat has already been rated.') {
          e.rateForm.hidden = true;
          e.rateBtn.hidden = true;
          e.rateThanks.textContent = 'This chat has already been rated.';
          e.rateThanks.hidden = false;
          return;
        }
        // The ended chat's token no longer works: the restore window passed.
        e.rateError.textContent = typeof err === 'string' && err !== 'A valid token is required.' ? err : 'The time to rate this chat has passed.';
      });
  }

  // The transcript as plain text, one line per entry: what the window shows.
  function transcriptText(messages) {
    const lines = [(ui.config.title || 'Chat') + ' \u2014 transcript', ''];
    for (const m of messages) {
      const type = String(m.type || '').toLowerCase();
      const from = m.from || {};
      const ftype = String(from.type || '').toLowerCase();
      const who = ftype === 'client' ? from.name || 'You' : from.name || (ftype === 'bot' ? 'Bot' : 'Agent');
      let when = '';
      try {
        if (typeof m.timestamp === 'number' && m.timestamp) when = new Date(m.timestamp).toLocaleString();
      } catch (_) {
        when = '';
      }
      let line = '';
      if (type === 'message' || type === 'text' || type === 'pushurl' || type === 'structured') line = who + ': ' + m.text;
      else if (type === 'participantjoined') line = ftype === 'client' ? who + ' started the chat' : who + ' joined the chat';
      else if (type === 'participantleft') line = who + ' left the chat';
      else if (type === 'notice') line = String(m.text || '');
      else if (type === 'fileuploaded') {
        const d = isObject(m.fileDetails) ? m.fileDetails : {};
        line = who + ' shared ' + String(d['file-name'] || m.text || 'a file');
      } else continue;
      lines.push((when ? '[' + when + '] ' : '') + line);
    }
    return lines.join('\r\n') + '\r\n';
  }

  // Saves the transcript as a text file: the gateway's (getTranscript) while the chat's token
  // works, else the messages this window holds.
  function downloadTranscript() {
    const save = (messages) => {
      const blob = new Blob([transcriptText(messages)], { type: 'text/plain;charset=utf-8' });
      const url = URL.createObjectURL(blob);
      const day = new Date().toISOString().slice(0, 10);
      const a = h('a', { href: url, download: 'chat-transcript-' + day + '.txt', hidden: true });
      (ui.root || document.body).appendChild(a);
      a.click();
      a.remove();
      ui.lastTranscript = url; // tests and pages may read what was saved
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    };
    const held = () => ui.items.map((it) => it.m);
    wc.command(WCS + '.getTranscript')
      .done((d) => save(isObject(d) && Array.isArray(d.messages) && d.messages.length ? d.messages : held()))
      .fail(() => save(held()));
  }

  function setView(view) {
    ui.view = view;
    if (!ui.root) return;
    const e = ui.els;
    e.form.hidden = view !== 'form';
    e.chat.hidden = view === 'form' || view === 'leave' || view === 'left';
    e.leave.hidden = view !== 'leave';
    e.left.hidden = view !== 'left';
    e.compose.hidden = view !== 'chat';
    e.actions.hidden = view !== 'chat' || ui.mode === 'async'; // the visitor cannot end an async chat
    e.confirm.hidden = true;
    e.ended.hidden = view !== 'ended';
    if (view === 'form') {
      e.formError.textContent = '';
      e.startBtn.disabled = false;
      checkAvailability();
    }
    refreshWaiting();
    // An embedded window is part of the page: it takes the focus only when asked to.
    if (ui.open && !ui.minimized && !ui.quiet) focusView();
  }

  function focusView() {
    const e = ui.els;
    if (ui.view === 'form') e.nickname.focus();
    else if (ui.view === 'chat') e.text.focus();
    else if (ui.view === 'leave') ([e.lName, e.lEmail, e.lText].find((el) => !el.value) || e.lText).focus();
    else if (ui.view === 'left') e.leftClose.focus();
    else e.newBtn.focus();
  }

  function showConfirm(on) {
    const e = ui.els;
    e.confirm.hidden = !on;
    e.actions.hidden = on;
    (on ? e.confirmNo : e.endBtn).focus();
  }

  function setStatus(text) {
    if (ui.els.status) ui.els.status.textContent = text;
  }

  function announce(text) {
    const live = ui.els.live;
    if (!live) return;
    live.textContent = '';
    // Changing the text in a later task makes screen readers notice a repeated message too.
    setTimeout(() => (live.textContent = text), 50);
  }

  function timeLabel(ts) {
    if (typeof ts !== 'number' || !ts) return '';
    try {
      return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    } catch (_) {
      return '';
    }
  }

  function messageKey(m) {
    return typeof m.index === 'number' && m.index > 0 ? m.index + '|' + m.type + '|' + (m.from && m.from.id) : null;
  }

  // Adds a message to the transcript model and, when the window exists, to the DOM.
  function addMessage(m, restoringFlag, chatId) {
    if (chatId && ui.chatId !== chatId) {
      // A different chat than the one shown: start a fresh transcript.
      ui.chatId = chatId;
      ui.items = [];
      ui.keys.clear();
      ui.pending.clear();
      for (const u of ui.blobs) URL.revokeObjectURL(u);
      ui.blobs = [];
      if (ui.els.log) ui.els.log.textContent = '';
    }
    const key = messageKey(m);
    if (key) {
      if (ui.keys.has(key)) return;
      ui.keys.add(key);
    }
    ui.items.push({ m, restoring: restoringFlag });
    if (ui.root) renderItem(m, restoringFlag);
  }

  function renderItem(m, restoringFlag) {
    const e = ui.els;
    const type = String(m.type || '').toLowerCase();
    const from = m.from || {};
    const ftype = String(from.type || '').toLowerCase();
    const name = from.name || (ftype === 'agent' ? 'Agent' : ftype === 'bot' ? 'Bot' : '');
    let li = null;
    let say = '';
    if (type === 'message' || type === 'text' || type === 'pushurl' || type === 'structured') {
      const mine = ftype === 'client';
      li = h('li', { class: mine ? 'msg mine' : 'msg' }, [
        mine ? null : h('span', { class: 'name', text: name }),
        h('span', { class: 'sr', text: mine ? 'You said: ' : '' }),
        h('span', { class: 'text', text: m.text }),
        h('span', { class: 'time', text: timeLabel(m.timestamp) }),
      ]);
      if (!mine) say = (name ? name + ': ' : '') + m.text;
      // Our own message came back from the gateway: it replaces its "sending" bubble.
      const waiting = m.requestId && ui.pending.get(m.requestId);
      if (waiting) {
        ui.pending.delete(m.requestId);
        waiting.replaceWith(li);
        li = null;
      }
    } else if (type === 'participantjoined') {
      li = notice(ftype === 'client' ? 'Chat started' : name + ' joined the chat');
      if (ftype !== 'client') say = name + ' joined the chat';
    } else if (type === 'participantleft') {
      li = notice(ftype === 'client' ? 'You left the chat' : name + ' left the chat');
      if (ftype !== 'client') say = name + ' left the chat';
    } else if (type === 'notice') {
      li = notice(m.text);
    } else if (type === 'fileuploaded') {
      const d = isObject(m.fileDetails) ? m.fileDetails : {};
      const file = String(d['file-name'] || m.text || 'a file');
      const mine = ftype === 'client';
      li = h('li', { class: mine ? 'msg mine att file' : 'msg att file' }, [
        mine ? null : h('span', { class: 'name', text: name }),
        h('span', { class: 'sr', text: mine ? 'You shared: ' : '' }),
        renderFile(d, file),
        h('span', { class: 'time', text: timeLabel(m.timestamp) }),
      ]);
      if (!mine) say = name + ' shared ' + file;
    }
    if (li) {
      e.log.appendChild(li);
      scrollDown();
    }
    if (say && !restoringFlag) {
      announce(say);
      if (ui.minimized || !ui.open) setUnread(ui.unread + 1);
    }
  }

  function sizeLabel(n) {
    const b = Number(n);
    if (!(b >= 0)) return '';
    if (b < 1024) return b + ' B';
    if (b < 1048576) return Math.round(b / 1024) + ' KB';
    return (b / 1048576).toFixed(1) + ' MB';
  }

  // Images the browser shows (never SVG: a document, not a picture) preview inline.
  const PREVIEW_TYPES = /^image\/(png|jpeg|gif|webp|avif|bmp)$/;

  // A shared file: an image as a preview that opens at full size, anything else (and an image
  // that will not load) as a card with its name, type and size that downloads it. Names are a
  // stranger's text: they go in as textContent only.
  function renderFile(d, file) {
    const id = d['file-id'] ? String(d['file-id']) : '';
    const mime = String(d['file-type'] || '').toLowerCase();
    const card = fileCard(id, file, mime, d['file-size']);
    if (!id || !PREVIEW_TYPES.test(mime)) return card;
    const img = h('img', { alt: file });
    const thumb = h('button', { type: 'button', class: 'thumb', title: file + ' \u2013 view full size', 'aria-label': 'Image ' + file + ', view full size' }, [img]);
    const fallback = () => thumb.isConnected && thumb.replaceWith(card);
    img.addEventListener('error', fallback);
    img.addEventListener('load', scrollDown);
    wcs
      .command('fetchFile', { fileId: id })
      .done((r) => {
        if (!r || !(r.blob instanceof Blob) || !PREVIEW_TYPES.test(r.blob.type)) return fallback();
        const url = URL.createObjectURL(r.blob);
        ui.blobs.push(url);
        img.src = url;
        thumb.addEventListener('click', () => openViewer(url, file, id));
      })
      .fail(fallback);
    return thumb;
  }

  function fileCard(id, file, mime, size) {
    const dot = file.lastIndexOf('.');
    const ext = dot > 0 && file.length - dot <= 5 ? file.slice(dot + 1) : 'file';
    const info = [mime || 'file', sizeLabel(size)].filter(Boolean).join(' \u00b7 ');
    const parts = [h('span', { class: 'ext', 'aria-hidden': 'true', text: ext }), h('span', { class: 'fmeta' }, [h('span', { class: 'fname', text: file }), h('span', { class: 'finfo', text: info })])];
    if (!id) return h('span', { class: 'card' }, parts);
    return h('button', { type: 'button', class: 'card', title: 'Download ' + file, onclick: () => wcs.command('downloadFile', { fileId: id, fileName: file }) }, parts);
  }

  let viewerOpener = null;
  function openViewer(url, file, id) {
    const e = ui.els;
    viewerOpener = document.activeElement;
    e.viewerImg.src = url;
    e.viewerImg.alt = file;
    e.viewerName.textContent = file;
    e.viewer.setAttribute('aria-label', file);
    e.viewerDl.onclick = () => wcs.command('downloadFile', { fileId: id, fileName: file });
    e.viewer.hidden = false;
    e.viewerClose.focus();
  }

  function closeViewer() {
    const e = ui.els;
    if (!e.viewer || e.viewer.hidden) return false;
    e.viewer.hidden = true;
    e.viewerImg.removeAttribute('src');
    if (viewerOpener && viewerOpener.isConnected) viewerOpener.focus();
    return true;
  }

  // ---- waiting for an agent

  // The names of the agents (and bots) connected to the live chat, silent supervisors left out.
  function agentNames() {
    return Object.keys(ui.agents)
      .map((k) => ui.agents[k])
      .filter((a) => isObject(a) && a.connected && !a.supervisor && a.name)
      .map((a) => String(a.name));
  }

  // The header says who the visitor talks with; the waiting panel its place in the queue, and,
  // when nobody online could serve the chat, that a message can be left instead.
  function refreshWaiting() {
    const e = ui.els;
    if (!e.wait) return;
    const live = ui.view === 'chat' && !!wcs.data('sessionActive') && ui.mode !== 'async';
    const names = live ? agentNames() : [];
    const waiting = live && !names.length;
    e.sub.textContent = names.length ? 'Chatting with ' + names.join(', ') : waiting ? 'Waiting for an agent' : '';
    e.wait.hidden = !waiting;
    const p = ui.position;
    const w = ui.recentWait;
    // What waits have lately been, said as such: the gateway's median of the last chats served.
    const lately = !p || w < 0 ? '' : w < 60 ? ' Lately, visitors waited less than a minute.' : ' Lately, visitors waited about ' + Math.round(w / 60) + (w < 90 ? ' minute.' : ' minutes.');
    e.waitPos.textContent = (!p ? '' : p === 1 ? 'You are next in the queue.' : 'You are number ' + p + ' in the queue.') + lately;
    e.offer.hidden = !(waiting && ui.avail && ui.avail.agentsOnline === 0);
    clearTimeout(ui.availTimer);
    ui.availTimer = null;
    if (waiting) {
      if (!ui.avail) checkAvailability();
      // Agents come and go while the visitor waits: ask again now and then.
      ui.availTimer = setTimeout(() => {
        checkAvailability();
        refreshWaiting();
      }, 30000);
    }
  }

  let availAsked = 0;
  // Asks whether anyone online could serve a chat (GET /v1/availability's question): the form
  // and the waiting panel offer to leave a message when nobody could.
  function checkAvailability() {
    const n = ++availAsked;
    wcs.command('getAvailability').done((d) => {
      if (n !== availAsked || !isObject(d)) return;
      ui.avail = d;
      const e = ui.els;
      if (e.formOffer) e.formOffer.hidden = !(d.agentsOnline === 0 && ui.view === 'form');
      if (e.offer) e.offer.hidden = !(d.agentsOnline === 0 && !e.wait.hidden);
    });
  }

  function refreshQueuePosition() {
    if (ui.mode === 'async') return;
    wcs.command('getQueuePosition').done((d) => {
      if (!isObject(d) || typeof d.position !== 'number') return;
      ui.position = d.position;
      ui.recentWait = typeof d.recentWait === 'number' ? d.recentWait : -1;
      refreshWaiting();
    });
  }

  function openLeave(from) {
    const e = ui.els;
    ui.leaveFrom = from;
    if (!e.lName.value) e.lName.value = e.nickname.value.trim();
    if (!e.lEmail.value) e.lEmail.value = e.email.value.trim();
    e.lError.textContent = '';
    e.lSend.disabled = false;
    setView('leave');
  }

  function onLeaveSubmit(ev) {
    ev.preventDefault();
    const e = ui.els;
    const v = { name: e.lName.value.trim(), email: e.lEmail.value.trim(), message: e.lText.value.trim() };
    const over = ui.limit && [...v.message].length > ui.limit;
    const bad = !v.name
      ? [e.lName, 'Please enter your name.']
      : !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v.email)
        ? [e.lEmail, 'Please enter a valid email address, so that we can answer you.']
        : !v.message
          ? [e.lText, 'Please write your message.']
          : over
            ? [e.lText, 'Your message is longer than ' + ui.limit + ' characters.']
            : null;
    for (const el of [e.lName, e.lEmail, e.lText]) el.removeAttribute('aria-invalid');
    if (bad) {
      e.lError.textContent = bad[1];
      bad[0].setAttribute('aria-invalid', 'true');
      bad[0].focus();
      return;
    }
    e.lError.textContent = '';
    e.lSend.disabled = true;
    wcs
      .command('leaveMessage', v)
      .done(() => {
        // The message replaces the chat that waited for nobody: it leaves the queue.
        if (wcs.data('sessionActive') && ui.mode !== 'async') wcs.command('endChat');
        e.lText.value = '';
        e.leftText.textContent = 'Thank you, ' + v.name + '. Your message has been sent; we will answer you at ' + v.email + '.';
        setView('left');
      })
      .fail((err) => {
        e.lSend.disabled = false;
        e.lError.textContent = typeof err === 'string' ? err : 'Your message could not be sent. Please try again.';
      });
  }

  // ---- the message length limit

  // The textarea takes at most the gateway's limits.messageChars (from getFileLimits) and the
  // page's webchat.maxMessageLength, whichever is smaller.
  function applyLimit() {
    const lims = [cfg.maxMessageLength, ui.files && ui.files.messageChars].filter((n) => typeof n === 'number' && n > 0);
    ui.limit = lims.length ? Math.min(...lims) : 0;
    const e = ui.els;
    if (!e.text) return;
    if (ui.limit) {
      e.text.setAttribute('maxlength', String(ui.limit));
      if (e.lText) e.lText.setAttribute('maxlength', String(ui.limit));
    }
    refreshCount();
  }

  // Characters of a text as the gateway counts them (code points, not UTF-16 units).
  const charCount = (t) => [...t].length;

  // Near the limit, how many characters are left; over it (a paste a script made), by how many.
  function refreshCount() {
    const e = ui.els;
    if (!e.count) return;
    const n = ui.limit ? charCount(e.text.value) : 0;
    const near = ui.limit && n > ui.limit * 0.9;
    e.count.hidden = !near;
    if (!near) return;
    const over = n > ui.limit;
    e.count.classList.toggle(P + 'over', over);
    e.count.textContent = over ? n - ui.limit + ' characters over the limit of ' + ui.limit : ui.limit - n + ' characters left';
  }

  // Shows the attach button when the deployment takes files.
  function refreshFileLimits() {
    wcs.command('getFileLimits').done((d) => {
      ui.files = isObject(d) ? d : null;
      applyLimit();
      const e = ui.els;
      if (!e.attachBtn) return;
      const on = !!(ui.files && ui.files.enabled);
      e.attachBtn.hidden = !on;
      if (on && Array.isArray(ui.files.types)) e.fileInput.setAttribute('accept', ui.files.types.join(','));
    });
  }

  function onFilePicked() {
    const e = ui.els;
    const f = e.fileInput.files && e.fileInput.files[0];
    if (!f) return;
    const max = ui.files && ui.files.maxBytes;
    if (max && f.size > max) {
      setStatus('This file is larger than the limit of ' + max + ' bytes.');
      e.fileInput.value = '';
      return;
    }
    setStatus('Sending ' + f.name + '\u2026');
    wcs.command('sendFile', { files: [f] })
      .done(() => setStatus(''))
      .fail((err) => setStatus(typeof err === 'string' ? err : 'The file could not be sent.'))
      .always(() => {
        e.fileInput.value = '';
      });
  }

  function notice(text) {
    return h('li', { class: 'notice', text });
  }

  function scrollDown() {
    const log = ui.els.log;
    if (log) log.scrollTop = log.scrollHeight;
  }

  function setUnread(n) {
    ui.unread = n;
    const b = ui.els.unread;
    if (!b) return;
    b.hidden = !n;
    b.textContent = String(n);
    updateMinButton();
  }

  function updateMinButton() {
    const btn = ui.els.minBtn;
    if (!btn) return;
    btn.textContent = ui.minimized ? '\u25b4' : '\u2013';
    btn.title = ui.minimized ? 'Restore' : 'Minimize';
    btn.setAttribute('aria-label', ui.minimized ? 'Restore chat' + (ui.unread ? ', ' + ui.unread + ' new' : '') : 'Minimize chat');
  }

  function refreshTyping() {
    if (ui.els.typing) ui.els.typing.textContent = ui.agentTyping ? ui.agentTyping + ' is typing\u2026' : '';
  }

  function onRootKey(ev) {
    if (ev.key === 'Escape' && closeViewer()) {
      ev.preventDefault();
      return;
    }
    if (ev.key === 'Escape' && !ui.embed) {
      ev.preventDefault();
      if (!ui.els.confirm.hidden) showConfirm(false);
      else if (!ui.minimized) wc.command('minimize', { minimized: true });
    }
  }

  function onTextKey(ev) {
    // Enter sends, Shift+Enter makes a new line (IME composition is left alone).
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      onSendSubmit(ev);
    }
  }

  function onStartSubmit(ev) {
    ev.preventDefault();
    const e = ui.els;
    const nickname = e.nickname.value.trim();
    if (!nickname) {
      e.formError.textContent = 'Please enter your name.';
      e.nickname.focus();
      return;
    }
    const email = e.email.value.trim();
    if (email && !/^[^\s@]+@[^\s@]+$/.test(email)) {
      e.formError.textContent = 'Please enter a valid email address or leave it empty.';
      e.email.focus();
      return;
    }
    e.formError.textContent = '';
    e.startBtn.disabled = true;
    const opts = { nickname };
    if (email) opts.email = email;
    for (const k of ['firstname', 'lastname', 'subject']) if (ui.start[k]) opts[k] = ui.start[k];
    if (ui.start.userData) opts.userData = ui.start.userData;
    wc.command(WCS + '.startChat', opts)
      .done(() => {
        e.startBtn.disabled = false;
        setView('chat');
      })
      .fail((err) => {
        e.startBtn.disabled = false;
        e.formError.textContent = typeof err === 'string' ? err : 'The chat could not be started. Please try again.';
        checkAvailability(); // a queue that refuses chats nobody could serve: offer a message
      });
  }

  function onSendSubmit(ev) {
    ev.preventDefault();
    const e = ui.els;
    const text = e.text.value;
    if (!text.trim() || ui.view !== 'chat') return;
    if (ui.limit && charCount(text) > ui.limit) {
      // Refused here rather than sent and bounced: the text stays for the visitor to shorten.
      refreshCount();
      setStatus('This message is longer than ' + ui.limit + ' characters. Please shorten it or send it in parts.');
      e.text.focus();
      return;
    }
    const requestId = randomId();
    const li = h('li', { class: 'msg mine pending' }, [h('span', { class: 'text', text }), h('span', { class: 'time', text: 'Sending\u2026' })]);
    ui.pending.set(requestId, li);
    e.log.appendChild(li);
    scrollDown();
    e.text.value = '';
    refreshCount();
    if (/^This message is longer/.test(e.status.textContent)) setStatus('');
    wc.command(WCS + '.sendMessage', { message: text, requestId }).fail((err) => {
      if (ui.pending.get(requestId) !== li) return;
      ui.pending.delete(requestId);
      li.className = P + 'msg ' + P + 'mine ' + P + 'failed';
      li.lastChild.textContent = 'Not sent' + (typeof err === 'string' ? ': ' + err : '');
      if (!e.text.value) e.text.value = text; // give the text back for another try
    });
  }

  function onCloseClick() {
    if (ui.view === 'chat' && wcs.data('sessionActive') && ui.mode !== 'async') {
      if (ui.minimized) wc.command('minimize', { minimized: false });
      showConfirm(true);
      return;
    }
    wc.command('close');
  }

  function endChatNow() {
    wc.command(WCS + '.endChat').fail((err) => setStatus(typeof err === 'string' ? err : 'The chat could not be ended.'));
  }

  function showWindow() {
    buildWindow();
    ui.root.hidden = false;
    if (ui.launcher) ui.launcher.hidden = true;
    ui.open = true;
    uiState({ open: true });
    wc.data('open', true);
  }

  function applyMinimized(on) {
    ui.minimized = on;
    ui.root.classList.toggle(P + 'minimized', on);
    if (on) updateMinButton();
    else setUnread(0);
    uiState({ minimized: on });
    wc.data('minimized', on);
  }

  const wcCommands = {
    configure(e) {
      ui.config = isObject(e.data) ? e.data : {};
      e.deferred.resolve();
    },

    open(e) {
      if (ui.open && !ui.minimized) return e.deferred.reject('Already opened');
      if (ui.open && ui.minimized) {
        if (e.data.minimized === true) return e.deferred.resolve(); // as it is
        applyMinimized(false);
        wc.publish('unminimized');
        focusView();
        return e.deferred.resolve();
      }
      showWindow();
      // Genesys' WebChat.open options: form {firstname, lastname, nickname, email, subject,
      // autoSubmit} prefills (or skips) the form; userData goes with the chat it starts.
      const form = isObject(e.data.form) ? e.data.form : {};
      const str = (v) => (typeof v === 'string' || typeof v === 'number' ? String(v).trim() : '');
      const nickname = str(form.nickname) || str(e.data.nickname) || [str(form.firstname), str(form.lastname)].filter(Boolean).join(' ');
      const email = str(form.email) || str(e.data.email);
      ui.start = { firstname: str(form.firstname), lastname: str(form.lastname), subject: str(form.subject) };
      if (isObject(e.data.userData)) ui.start.userData = e.data.userData;
      // What the page passes wins over what the form holds; without it, a visitor's typing stays.
      if (nickname && ui.els.nickname) ui.els.nickname.value = nickname;
      if (email && ui.els.email) ui.els.email.value = email;
      const autoSubmit = form.autoSubmit === true && !!nickname;
      applyMinimized(!!e.data.minimized);
      const opened = () => {
        wc.publish('opened');
        e.deferred.resolve();
      };
      if (wcs.data('sessionActive')) {
        setView('chat');
        return opened();
      }
      // Continue a chat kept from another page or tab if there is one, else ask who's there.
      wc.command(WCS + '.restore')
        .done(() => {
          setView('chat');
          opened();
        })
        .fail((err) => {
          // "already active" / "already restoring": the chat is (about to be) there.
          const there = err === TEXT.restoreActive || err === TEXT.restoring;
          setView(there ? 'chat' : 'form');
          opened();
          if (!there && autoSubmit) ui.els.form.requestSubmit();
        });
    },

    // Renders the window inline in a page element (a proactive deployment's display "embedded"),
    // open, without minimize and close buttons.
    embed(e) {
      const el = e.data.element;
      if (!isObject(el) || el.nodeType !== 1) return e.deferred.reject('No element provided.');
      if (ui.open) return e.deferred.reject('Already opened');
      ui.embed = el;
      if (ui.root) {
        ui.root.remove();
        ui.root = null;
        ui.els = {};
      }
      ui.quiet = true;
      wc.command('open').always(() => {
        ui.quiet = false;
        e.deferred.resolve();
      });
    },

    // The chat kept from the previous page shows as it was there: open or minimized (minimized
    // when this tab never showed it).
    continue(e) {
      if (ui.open) return e.deferred.resolve();
      const st = uiState();
      wc.command('open', { minimized: st.open ? !!st.minimized : true }).always(() => e.deferred.resolve());
    },

    close(e) {
      if (!ui.open) return e.deferred.reject('Already closed');
      // Closing the window ends a live chat, as Genesys' WebChat does.
      if (wcs.data('sessionActive') && ui.mode !== 'async') wc.command(WCS + '.endChat');
      ui.root.hidden = true;
      ui.open = false;
      if (ui.launcher) ui.launcher.hidden = false;
      uiState({ open: false, minimized: false });
      wc.data('open', false);
      setUnread(0);
      wc.publish('closed');
      if (ui.view === 'ended' || ui.view === 'left') setView('form');
      e.deferred.resolve();
    },

    minimize(e) {
      if (!ui.open) return e.deferred.reject('Not opened');
      const want = typeof e.data.minimized === 'boolean' ? e.data.minimized : !ui.minimized;
      if (want !== ui.minimized) {
        applyMinimized(want);
        wc.publish(want ? 'minimized' : 'unminimized');
        if (want) ui.els.minBtn.focus();
        else focusView();
      }
      e.deferred.resolve();
    },

    endChat(e) {
      if (!wcs.data('sessionActive')) return e.deferred.reject(TEXT.noSession);
      wc.command(WCS + '.endChat').done((d) => e.deferred.resolve(d)).fail((err) => e.deferred.reject(err));
    },
  };
  for (const name of Object.keys(wcCommands)) wc.registerCommand(name, wcCommands[name]);
  wc.registerEvents(['ready', 'opened', 'closed', 'minimized', 'unminimized', 'started', 'ended']);

  // The window follows the service even while closed, so opening it shows the whole chat.
  wc.subscribe(WCS + '.messageReceived', (e) => {
    const d = e.data;
    const chatId = d.sessionData && d.sessionData.chatId;
    for (const m of d.messages || []) addMessage(m, !!d.restoring, chatId);
  });
  wc.subscribe(WCS + '.started', (e) => {
    ui.mode = e.data.mode || ui.mode;
    ui.agents = {};
    ui.position = 0;
    ui.avail = null;
    refreshFileLimits();
    refreshQueuePosition();
    if (ui.root) setStatus('');
    if (ui.open) setView('chat');
    wc.publish('started');
  });
  wc.subscribe(WCS + '.restored', (e) => {
    ui.mode = e.data.mode;
    refreshFileLimits();
    refreshQueuePosition();
    if (ui.open) setView('chat');
    else if (uiState().open) {
      // The window was open on the previous page: show it again.
      wc.command('open', { minimized: !!uiState().minimized });
    }
  });
  wc.subscribe(WCS + '.ended', () => {
    ui.agents = {};
    ui.position = 0;
    ui.agentTyping = '';
    refreshTyping();
    for (const li of ui.pending.values()) li.remove();
    ui.pending.clear();
    setStatus('');
    if (ui.root && ui.view === 'chat') {
      ui.els.log.appendChild(notice('Chat ended'));
      scrollDown();
      announce('The chat has ended.');
      resetRating();
      setView('ended');
    }
    refreshWaiting();
    wc.publish('ended');
  });
  // Who is in the chat: the agents map of every *Connected/*Disconnected event.
  for (const who of ['agent', 'bot']) {
    for (const what of ['Connected', 'Disconnected']) {
      wc.subscribe(WCS + '.' + who + what, (e) => {
        if (isObject(e.data.agents)) ui.agents = Object.assign({}, e.data.agents);
        if (what === 'Connected') ui.position = 0;
        refreshWaiting();
      });
    }
  }
  wc.subscribe(WCS + '.queuePosition', (e) => {
    if (typeof e.data.position !== 'number') return;
    ui.position = e.data.position;
    ui.recentWait = typeof e.data.recentWait === 'number' ? e.data.recentWait : -1;
    refreshWaiting();
  });

  wc.subscribe(WCS + '.agentTypingStarted', (e) => {
    ui.agentTyping = (e.data.from && e.data.from.name) || 'Agent';
    refreshTyping();
  });
  wc.subscribe(WCS + '.agentTypingStopped', () => {
    ui.agentTyping = '';
    refreshTyping();
  });
  const backToForm = () => {
    if (ui.open && ui.view === 'chat' && !wcs.data('sessionActive')) setView('form');
  };
  wc.subscribe(WCS + '.restoreFailed', backToForm);
  wc.subscribe(WCS + '.restoreTimeout', backToForm);
  wc.subscribe(WCS + '.disconnected', () => setStatus('Connection lost. Reconnecting\u2026'));
  wc.subscribe(WCS + '.reconnected', () => {
    refreshQueuePosition();
    setStatus('Reconnected.');
    setTimeout(() => {
      if (ui.els.status && ui.els.status.textContent === 'Reconnected.') setStatus('');
    }, 3000);
  });

  wc.subscribe('App.ready', (e) => {
    const widgets = isObject(e.data) ? e.data : {};
    wc.command('configure', isObject(widgets.webchat) ? widgets.webchat : {}).always(() => {
      wc.data('open', false);
      wc.ready();
      wc.republish('ready');
      const btn = ui.config.chatButton;
      if (isObject(btn) && btn.enabled) {
        injectStyles();
        ui.launcher = h('button', { type: 'button', class: 'launcher', text: 'Chat with us', onclick: () => wc.command('open') });
        ui.launcher.hidden = ui.open;
        document.body.appendChild(ui.launcher);
      }
    });
  });

  /* ------------------------------------------------------------------- start up */

  // Pages often set window._genesys.widgets right after this script tag: boot once the
  // document is parsed.
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot, { once: true });
  else setTimeout(boot, 0);
})(window, document);

/*!
 * cxgate /widgets/chatmanager.js
 *
 * The Chat Manager of seeds/000: it tracks the visit in localStorage, evaluates the triggers in the
 * seed's order (embedded, continuation, messaging, then the configured ones; the first verified
 * wins), shows the configured buttons and invitations, their "leave a message" form, and hands the
 * visit's context to the chat once the visitor engages. It is the bus plugin "ChatManager" on the
 * bus of /widgets/cxbus.js, loaded after it by /widgets/loader.js, which sets
 * window._cxgate.proactive (docs/proactive.md). Plain ES2017, no build step, no dependencies.
 *
 * Nothing tracked here leaves the browser before the visitor engages (starts a chat or leaves a
 * message): the only requests before are the availability question, which names the deployment
 * only, and, for a visitor the gateway already knows, its kept identity token.
 *
 * Commands: ChatManager.setVariable {name, value}, ChatManager.getSession, ChatManager.hideItems.
 * Events:   ChatManager.triggerActivated {trigger}, itemShown {item, mode}, itemAccepted {item, mode},
 *           itemDeclined {item}.
 */
(function (window, document) {
  'use strict';

  const root = window._cxgate;
  const conf = root && root.proactive;
  const widgets = window._genesys && window._genesys.widgets;
  const bus = widgets && widgets.bus;
  if (!conf || typeof conf !== 'object' || !bus || typeof bus.registerPlugin !== 'function' || root.chatManager) return;
  const cm = bus.registerPlugin('ChatManager');
  if (!cm) return;
  root.chatManager = true;

  /* ------------------------------------------------------------------ helpers */

  const VISIT_GAP = 30 * 60 * 1000; // a visit starts after 30 minutes without a page view
  const IDLE_LIMIT = 24 * 60 * 60 * 1000; // an engaged chat continues across pages this long
  const HISTORY_MAX = 20; // pages kept in the recent history
  const VARS_MAX = 50; // custom variables kept
  const STRING_MAX = 500; // characters of a string variable
  const TICK = 1000; // re-evaluation period, besides DOM and input changes
  const P = 'cxcm-'; // class prefix of everything rendered here

  const now = () => Date.now();
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

  const live = conf.mode !== 'async';
  const deployment = String(conf.deployment || '');
  const gateway = String(conf.gateway || '').replace(/\/+$/, '');
  const triggers = Array.isArray(conf.triggers) ? conf.triggers.filter(isObject) : [];
  const items = new Map((Array.isArray(conf.items) ? conf.items : []).filter(isObject).map((it) => [String(it.name), it]));
  const declared = new Map((Array.isArray(conf.variables) ? conf.variables : []).filter(isObject).map((v) => [String(v.name), v]));

  function debug() {
    if (window.console && console.debug) console.debug.apply(console, ['[cxgate ChatManager]'].concat(Array.from(arguments)));
  }

  // A duration in milliseconds (the loader's form), or "20s", "1m30s", "500ms", "2h" as a page
  // could write it; NaN when unreadable.
  function duration(v) {
    if (typeof v === 'number') return v >= 0 ? v : NaN;
    if (typeof v !== 'string' || !/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(v.trim())) return NaN;
    const unit = { ms: 1, s: 1000, m: 60000, h: 3600000 };
    let total = 0;
    v.trim().replace(/(\d+(?:\.\d+)?)(ms|s|m|h)/g, (_, n, u) => {
      total += parseFloat(n) * unit[u];
      return '';
    });
    return total;
  }

  // A glob on the whole full URL: * is any run of characters (slashes included), everything else
  // literal.
  const globs = new Map();
  function glob(pattern) {
    const p = String(pattern);
    if (!globs.has(p)) {
      const src = p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
      globs.set(p, new RegExp('^' + src + '$'));
    }
    return globs.get(p);
  }

  /* ----------------------------------------------------------- session tracking */

  const storeKey = 'cxgate.chatmanager:' + deployment + '@' + gateway;

  function load() {
    try {
      const st = JSON.parse(window.localStorage.getItem(storeKey));
      return isObject(st) ? st : {};
    } catch (_) {
      return {};
    }
  }

  // Read-modify-write on the freshest copy: other tabs of the site write it too.
  function update(fn) {
    const st = load();
    fn(st);
    try {
      window.localStorage.setItem(storeKey, JSON.stringify(st));
    } catch (_) {
      /* storage full or disabled: tracking lasts for this page only */
    }
    state = st;
    return st;
  }

  const pageStart = (() => {
    const t = now();
    const origin = window.performance && window.performance.timeOrigin;
    return typeof origin === 'number' && origin > 0 && origin <= t ? Math.round(origin) : t;
  })();

  let state = {};
  update((st) => {
    if (typeof st.lastView !== 'number' || pageStart - st.lastView > VISIT_GAP || pageStart < st.lastView - VISIT_GAP) {
      st.visits = (typeof st.visits === 'number' ? st.visits : 0) + 1;
      st.visitStart = pageStart;
      st.pageViews = 0;
      st.pages = [];
      st.vars = {};
      st.dismissed = []; // invitations declined (or accepted) in this visit
    }
    st.pageViews = (st.pageViews || 0) + 1;
    st.lastView = pageStart;
    st.pages = (Array.isArray(st.pages) ? st.pages : []).concat([{ title: document.title || '', url: window.location.href, at: pageStart }]).slice(-HISTORY_MAX);
    if (!isObject(st.vars)) st.vars = {};
    if (!Array.isArray(st.dismissed)) st.dismissed = [];
  });

  // A variable's value in its declared type; undefined when it cannot be one.
  function typed(name, raw) {
    const decl = declared.get(name);
    const type = decl ? decl.type : typeof raw;
    if (type === 'number') {
      if (typeof raw === 'number') return isFinite(raw) ? raw : undefined;
      return parseNumber(String(raw));
    }
    if (type === 'boolean') {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).trim().toLowerCase();
      if (/^(true|yes|on|1)$/.test(s)) return true;
      if (/^(false|no|off|0|)$/.test(s)) return false;
      return undefined;
    }
    if (type === 'string' || !decl) {
      if (raw === undefined || raw === null || typeof raw === 'object' || typeof raw === 'function') return undefined;
      return String(raw).trim().slice(0, STRING_MAX);
    }
    return undefined;
  }

  // The number in a text such as "$1,234.50", "1.234,50 €" or "-12"; undefined when there is none.
  function parseNumber(text) {
    const m = /-?\d[\d.,\s\u00a0']*/.exec(text);
    if (!m) return undefined;
    let s = m[0].replace(/[\s\u00a0']/g, '').replace(/[.,]$/, '');
    const dot = s.lastIndexOf('.');
    const comma = s.lastIndexOf(',');
    if (dot >= 0 && comma >= 0) {
      const dec = dot > comma ? '.' : ',';
      s = s.split(dec === '.' ? ',' : '.').join('').replace(',', '.');
    } else if (comma >= 0) {
      // "1,234" is a thousand; "12,5" a decimal.
      s = /,\d{3}$/.test(s) && s.split(',').length === 2 && !/^-?0,/.test(s) ? s.replace(',', '') : s.split(',').length === 2 ? s.replace(',', '.') : s.split(',').join('');
    } else if (s.split('.').length > 2) {
      s = s.split('.').join('');
    }
    const n = parseFloat(s);
    return isFinite(n) ? n : undefined;
  }

  // Reads the configured variables from the page; true when one changed.
  function readPage() {
    const found = {};
    for (const [name, v] of declared) {
      if (typeof v.selector !== 'string' || !v.selector) continue;
      let el = null;
      try {
        el = document.querySelector(v.selector);
      } catch (_) {
        continue; // a selector the browser does not understand
      }
      if (!el) continue; // not on this page: the value read on an earlier page stays
      let raw;
      const tag = el.tagName;
      if (tag === 'INPUT' && /^(checkbox|radio)$/i.test(el.type)) raw = el.checked;
      else if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') raw = el.value;
      else raw = el.textContent;
      const val = typed(name, raw);
      if (val !== undefined) found[name] = val;
    }
    return setVars(found);
  }

  function setVars(values) {
    const vars = state.vars || {};
    const changed = Object.keys(values).filter((k) => vars[k] !== values[k]);
    if (!changed.length) return false;
    update((st) => {
      for (const k of changed) {
        if (own(st.vars, k) || Object.keys(st.vars).length < VARS_MAX) st.vars[k] = values[k];
      }
    });
    return true;
  }

  // What the triggers are matched against, and what getSession resolves with.
  function snapshot() {
    const st = state;
    const t = now();
    const pages = (st.pages || []).map((p) => Object.assign({}, p));
    if (pages.length && !pages[pages.length - 1].title) pages[pages.length - 1].title = document.title || '';
    return {
      url: window.location.href,
      referrer: document.referrer || '',
      title: document.title || '',
      visits: st.visits || 1,
      pageViews: st.pageViews || 1,
      timeOnPage: Math.floor((t - pageStart) / 1000),
      timeOnSite: Math.floor((t - (st.visitStart || pageStart)) / 1000),
      visitStart: st.visitStart || pageStart,
      pages,
      variables: Object.assign({}, st.vars),
    };
  }

  // The part of the session the agent sees (WebChatService.updateContext): the recent pages, the
  // variables, the counts, the time on site in milliseconds and the referrer, within the
  // gateway's bounds (titles 300 characters, URLs 2048, 8 KiB in all: the oldest pages go first).
  function context() {
    const s = snapshot();
    const clip = (v, n) => (typeof v === 'string' && v.length > n ? v.slice(0, n) : v);
    const c = {
      pages: s.pages.map((p) => ({ title: clip(p.title, 300), url: clip(p.url, 2048), at: p.at })),
      variables: s.variables,
      visits: s.visits,
      pageViews: s.pageViews,
      timeOnSite: now() - s.visitStart,
      referrer: clip(s.referrer, 2048),
    };
    while (c.pages.length > 1 && JSON.stringify(c).length > 8000) c.pages.shift();
    return c;
  }

  /* ----------------------------------------------------------------- conditions */

  function compare(op, a, b) {
    switch (op) {
      case '=':
      case '==':
        return a === b;
      case '!=':
        return a !== b;
      case '<':
        return a < b;
      case '<=':
        return a <= b;
      case '>':
        return a > b;
      case '>=':
        return a >= b;
    }
    return false;
  }

  // {op, value} or a bare number ("at least").
  function count(spec, actual) {
    if (typeof spec === 'number') return actual >= spec;
    if (isObject(spec) && typeof spec.value === 'number') return compare(spec.op || '>=', actual, spec.value);
    return false;
  }

  function testVar(c, vars) {
    const name = String(c.var);
    const has = own(vars, name) && vars[name] !== null && vars[name] !== '';
    const v = vars[name];
    const op = c.op || (c.value === undefined ? 'exists' : '=');
    if (op === 'exists') return c.value === false ? !has : has;
    if (!own(vars, name)) return op === '!=';
    let want = c.value;
    if (typeof v === 'number') want = typeof want === 'number' ? want : parseNumber(String(want));
    else if (typeof v === 'boolean') want = want === true || String(want).toLowerCase() === 'true';
    else if (typeof want === 'number' && parseNumber(String(v)) !== undefined && /^\s*-?[\d.,]+\s*$/.test(String(v))) return compare(op, parseNumber(String(v)), want);
    else want = String(want);
    if (op === 'contains') return String(v).toLowerCase().indexOf(String(c.value).toLowerCase()) >= 0;
    if (want === undefined) return op === '!=';
    return compare(op, v, want);
  }

  // A condition holds when every key it names holds; no condition always holds.
  function test(c, s) {
    if (c === undefined || c === null) return true;
    if (!isObject(c)) return false;
    let ok = true;
    if (own(c, 'all')) ok = ok && Array.isArray(c.all) && c.all.every((x) => test(x, s));
    if (own(c, 'any')) ok = ok && Array.isArray(c.any) && c.any.some((x) => test(x, s));
    if (own(c, 'not')) ok = ok && !test(c.not, s);
    if (own(c, 'url')) ok = ok && glob(c.url).test(s.url);
    if (own(c, 'referrer')) ok = ok && glob(c.referrer).test(s.referrer);
    if (own(c, 'timeOnPage')) ok = ok && s.timeOnPage * 1000 >= duration(c.timeOnPage);
    if (own(c, 'timeOnSite')) ok = ok && s.timeOnSite * 1000 >= duration(c.timeOnSite);
    if (own(c, 'pageViews')) ok = ok && count(c.pageViews, s.pageViews);
    if (own(c, 'visits')) ok = ok && count(c.visits, s.visits);
    if (own(c, 'var')) ok = ok && testVar(c, s.variables);
    return ok;
  }

  /* --------------------------------------------------------------- availability */

  let availability = null; // the page's one question to the gateway: a promise of 0..1 or null

  function probability() {
    if (!availability) {
      const url = gateway + '/v1/availability?deployment=' + encodeURIComponent(deployment);
      availability = window
        .fetch(url, { mode: 'cors', credentials: 'omit', cache: 'no-store' })
        .then((res) => res.json())
        .then((j) => (isObject(j) && j.status === 'resolved' && isObject(j.data) && typeof j.data.probability === 'number' ? j.data.probability : null))
        .catch(() => null);
    }
    return availability;
  }

  /* -------------------------------------------------------------------- styling */

  let styled = null; // a promise: the stylesheet loaded (or gave up)

  function stylesheet() {
    if (styled) return styled;
    styled = new Promise((resolve) => {
      if (document.getElementById(P + 'css')) return resolve();
      const link = document.createElement('link');
      link.id = P + 'css';
      link.rel = 'stylesheet';
      link.href = gateway + '/widgets/chatmanager.css';
      link.onload = link.onerror = () => resolve();
      setTimeout(resolve, 3000); // a slow stylesheet must not keep the items away for ever
      (document.head || document.documentElement).appendChild(link);
    });
    return styled;
  }

  // WCAG relative luminance and contrast of two "#rgb"/"#rrggbb" colours; 0 when unreadable.
  function contrast(a, b) {
    const lum = (hex) => {
      const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(hex || ''));
      if (!m) return NaN;
      let h = m[1];
      if (h.length === 3) h = h.replace(/./g, '$&$&');
      const ch = [0, 2, 4].map((i) => {
        const c = parseInt(h.slice(i, i + 2), 16) / 255;
        return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
      });
      return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
    };
    const la = lum(a);
    const lb = lum(b);
    if (isNaN(la) || isNaN(lb)) return 0;
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  // The item's configured colours, when they are readable together (WCAG AA, 4.5:1).
  function paint(el, item) {
    const style = isObject(item.style) ? item.style : {};
    const fg = style.color || '#ffffff';
    const bg = style.background || '#0b5cad';
    if ((style.color || style.background) && contrast(fg, bg) >= 4.5) {
      el.style.setProperty('--cxcm-fg', fg);
      el.style.setProperty('--cxcm-bg', bg);
    }
  }

  /* ------------------------------------------------------------------ rendering */

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

  function bubbleIcon() {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '20');
    svg.setAttribute('height', '20');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z');
    path.setAttribute('fill', 'currentColor');
    svg.appendChild(path);
    return svg;
  }

  let uid = 0;
  const nextId = (what) => P + what + '-' + ++uid;

  // One stack per corner, so items, the form and answers never overlap.
  function stack(position) {
    const pos = position === 'bottom-left' ? 'bl' : 'br';
    let el = document.getElementById(P + 'stack-' + pos);
    if (!el) {
      el = h('div', { id: P + 'stack-' + pos, class: 'stack stack-' + pos });
      document.body.appendChild(el);
    }
    return el;
  }

  // Screen readers hear an invitation arrive without it taking the focus. The live region exists
  // before anything is said in it: one created with its text is often not read.
  function liveRegion() {
    let el = document.getElementById(P + 'live');
    if (!el) {
      el = h('div', { id: P + 'live', class: 'sr', 'aria-live': 'polite', 'aria-atomic': 'true' });
      document.body.appendChild(el);
    }
    return el;
  }

  function announce(text) {
    const el = liveRegion();
    el.textContent = '';
    setTimeout(() => (el.textContent = text), 50);
  }

  const shown = new Map(); // item name -> {el, mode}

  const position = (item) => (isObject(item.style) && item.style.position) || 'bottom-right';

  function removeItem(name) {
    const s = shown.get(name);
    if (!s) return;
    shown.delete(name);
    const hadFocus = s.el.contains(document.activeElement);
    s.el.remove();
    if (hadFocus) {
      // Give the focus to what is left rather than dropping it on the body.
      const next = document.querySelector('[data-cxgate-item] button');
      if (next) next.focus();
    }
  }

  function hideAll() {
    for (const name of Array.from(shown.keys())) removeItem(name);
  }

  function showItem(item, mode) {
    const name = String(item.name);
    removeItem(name);
    const variant = isObject(item[mode]) ? item[mode] : isObject(item.online) ? item.online : {};
    const el = item.kind === 'invitation' ? renderInvitation(item, variant, mode) : renderButton(item, variant, mode);
    el.setAttribute('data-cxgate-item', name);
    el.setAttribute('data-cxgate-mode', mode);
    shown.set(name, { el, mode });
    stack(position(item)).appendChild(el);
    cm.publish('itemShown', { item: name, mode });
  }

  function renderButton(item, variant, mode) {
    const text = String(variant.text || (mode === 'offline' ? 'Leave a message' : 'Chat with us'));
    const btn = h('button', { type: 'button', class: 'item button ' + mode, onclick: () => accept(item, mode) }, [
      bubbleIcon(),
      h('span', { text }),
    ]);
    paint(btn, item);
    return btn;
  }

  function renderInvitation(item, variant, mode) {
    const titleId = nextId('title');
    const textId = nextId('text');
    const title = String(variant.title || (mode === 'offline' ? 'We are away' : 'Can we help?'));
    const text = String(variant.text || '');
    const acceptBtn = h('button', { type: 'button', class: 'btn accept', text: String(variant.accept || (mode === 'offline' ? 'Leave a message' : 'Chat now')), onclick: () => accept(item, mode) });
    paint(acceptBtn, item);
    const declineLabel = String(variant.decline || 'No thanks');
    const box = h('section', { class: 'item invite ' + mode, 'aria-labelledby': titleId, 'aria-describedby': text ? textId : null, onkeydown: (ev) => ev.key === 'Escape' && decline(item) }, [
      h('button', { type: 'button', class: 'close', 'aria-label': 'Close: ' + declineLabel, title: declineLabel, text: '\u00d7', onclick: () => decline(item) }),
      h('h2', { class: 'title', id: titleId, text: title }),
      text ? h('p', { class: 'text', id: textId, text }) : null,
      h('div', { class: 'actions' }, [acceptBtn, h('button', { type: 'button', class: 'btn btn2 decline', text: declineLabel, onclick: () => decline(item) })]),
    ]);
    announce(title + (text ? '. ' + text : ''));
    return box;
  }

  /* -------------------------------------------------------- accept and decline */

  function dismiss(name) {
    update((st) => {
      if (st.dismissed.indexOf(name) < 0) st.dismissed.push(name);
    });
  }

  function accept(item, mode) {
    const name = String(item.name);
    cm.publish('itemAccepted', { item: name, mode });
    if (item.kind === 'invitation') dismiss(name); // answered: not offered again in this visit
    if (mode === 'offline') {
      hideAll();
      page.winner = -1;
      page.paused = true;
      openLeaveForm(item);
      return;
    }
    hideAll();
    page.winner = -1; // when the window closes unused, the triggers decide again
    page.paused = true; // the window is up: no item over it until it closes
    openChat();
  }

  function decline(item) {
    const name = String(item.name);
    dismiss(name);
    removeItem(name);
    cm.publish('itemDeclined', { item: name });
    if (page.winner >= 0 && triggerItem(triggers[page.winner]) === item) page.winner = -1;
    schedule();
  }

  // What the page told us about the visitor, to prefill forms.
  function visitor() {
    const wc = (widgets && isObject(widgets.webchat) && widgets.webchat) || {};
    const id = isObject(wc.identity) ? wc.identity : {};
    const ud = isObject(wc.userData) ? wc.userData : {};
    const vars = state.vars || {};
    const pick = (...vals) => {
      for (const v of vals) if (typeof v === 'string' && v.trim()) return v.trim();
      return '';
    };
    const full = [pick(id.firstname, ud.firstname, ud.firstName), pick(id.lastname, ud.lastname, ud.lastName)].filter(Boolean).join(' ');
    return {
      name: pick(vars.name, id.nickname, ud.nickname, full),
      email: pick(vars.email, id.email, ud.email, ud.emailAddress),
    };
  }

  function openChat() {
    const who = visitor();
    const form = {};
    if (who.name) form.nickname = who.name;
    if (who.email) form.email = who.email;
    cm.command('WebChat.open', { form });
  }

  /* ------------------------------------------------------- leave a message form */

  function openLeaveForm(item) {
    const old = document.querySelector('[data-cxgate-form="leave-message"]');
    if (old) old.remove();
    const offline = isObject(item.offline) ? item.offline : {};
    const who = visitor();
    const titleId = nextId('title');
    const opener = document.activeElement;
    const field = (label, input) => {
      input.id = nextId('f');
      return h('div', { class: 'field' }, [h('label', { for: input.id, text: label }), input]);
    };
    const name = h('input', { class: 'input', name: 'name', autocomplete: 'name', required: true, maxlength: '200' });
    const email = h('input', { class: 'input', name: 'email', type: 'email', autocomplete: 'email', required: true, maxlength: '254' });
    const message = h('textarea', { class: 'input', name: 'message', rows: '4', required: true, maxlength: '4000' });
    name.value = who.name;
    email.value = who.email;
    const error = h('p', { class: 'error', role: 'alert' });
    const send = h('button', { type: 'submit', class: 'btn', text: 'Send message' });
    paint(send, item);
    const close = () => {
      panel.remove();
      page.paused = false;
      schedule();
      if (opener && opener.isConnected) opener.focus();
    };
    const form = h('form', { class: 'form', novalidate: true, onsubmit: (ev) => submit(ev) }, [
      offline.text && item.kind === 'invitation' ? h('p', { text: String(offline.text) }) : h('p', { text: 'We are not available right now. Leave us a message and we will answer by email.' }),
      field('Name', name),
      field('Email', email),
      field('Message', message),
      error,
      h('div', { class: 'actions' }, [send]),
    ]);
    const panel = h(
      'section',
      { class: 'panel leave', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': titleId, 'data-cxgate-form': 'leave-message', onkeydown: (ev) => ev.key === 'Escape' && close() },
      [
        h('div', { class: 'head' }, [
          h('h2', { class: 'title', id: titleId, text: String(item.kind === 'invitation' && offline.title ? offline.title : 'Leave us a message') }),
          h('button', { type: 'button', class: 'close', 'aria-label': 'Close', title: 'Close', text: '\u00d7', onclick: close }),
        ]),
        form,
      ]
    );
    function submit(ev) {
      ev.preventDefault();
      const v = { name: name.value.trim(), email: email.value.trim(), message: message.value.trim() };
      const bad = !v.name ? [name, 'Please enter your name.'] : !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v.email) ? [email, 'Please enter a valid email address.'] : !v.message ? [message, 'Please write your message.'] : null;
      for (const el of [name, email, message]) el.removeAttribute('aria-invalid');
      if (bad) {
        error.textContent = bad[1];
        bad[0].setAttribute('aria-invalid', 'true');
        bad[0].focus();
        return;
      }
      error.textContent = '';
      send.disabled = true;
      // Leaving a message is the visitor's own act, as starting a chat is: the visit's context
      // goes with it, for the agent who answers.
      cm.command('WebChatService.leaveMessage', Object.assign(v, { context: context() }))
        .done(() => {
          update((st) => (st.left = true));
          form.replaceWith(
            h('div', { class: 'form done', role: 'status' }, [
              h('p', { text: 'Thank you, ' + v.name + '. Your message has been sent; we will answer you by email.' }),
              h('div', { class: 'actions' }, [h('button', { type: 'button', class: 'btn', text: 'Close', onclick: close })]),
            ])
          );
          const btn = panel.querySelector('.' + P + 'done button');
          if (btn) btn.focus();
        })
        .fail((err) => {
          send.disabled = false;
          error.textContent = typeof err === 'string' ? err : 'Your message could not be sent. Please try again.';
        });
    }
    stack(position(item)).appendChild(panel);
    // The visitor asked for this form: the focus goes to the first field to fill.
    ([name, email, message].find((el) => !el.value) || message).focus();
  }

  // A visitor who left messages sees the answers when it comes back (its kept identity asks).
  function showAnswers() {
    if (!state.left) return;
    cm.command('WebChatService.listLeftMessages').done((d) => {
      const list = isObject(d) && Array.isArray(d.messages) ? d.messages : [];
      const seen = Array.isArray(state.seen) ? state.seen : [];
      const fresh = list.filter((m) => isObject(m) && isObject(m.answer) && m.id && seen.indexOf(String(m.id)) < 0);
      if (!fresh.length) {
        if (!list.some((m) => isObject(m) && !m.answer)) update((st) => (st.left = false)); // nothing more to wait for
        return;
      }
      stylesheet().then(() => {
        for (const m of fresh) renderAnswer(m);
      });
    });
  }

  function renderAnswer(m) {
    const titleId = nextId('title');
    const a = m.answer;
    const panel = h('section', { class: 'panel answer', 'aria-labelledby': titleId, 'data-cxgate-answer': String(m.id) }, [
      h('div', { class: 'head' }, [h('h2', { class: 'title', id: titleId, text: 'We answered your message' })]),
      h('div', { class: 'form' }, [
        h('blockquote', { class: 'quote', text: String(m.message || '') }),
        h('p', { class: 'reply' }, [h('strong', { text: (a.agentName ? String(a.agentName) : 'Our answer') + ': ' }), document.createTextNode(String(a.text || ''))]),
        h('div', { class: 'actions' }, [
          h('button', {
            type: 'button',
            class: 'btn',
            text: 'Close',
            onclick: () => {
              update((st) => (st.seen = (Array.isArray(st.seen) ? st.seen : []).concat([String(m.id)]).slice(-50)));
              panel.remove();
            },
          }),
        ]),
      ]),
    ]);
    stack('bottom-right').appendChild(panel);
    announce('We answered your message.');
  }

  /* ------------------------------------------------------------------ triggers */

  const page = {
    phase: 'starting', // starting | embedded | continuation | messaging | configured
    winner: -1, // index of the configured trigger whose action runs on this page
    activated: new Set(), // triggers whose conditions held on this page (triggerActivated sent)
    draws: new Map(), // trigger index -> the draw's outcome (onlyIfAgentsAvailable), once a page
    paused: false, // the chat window or the form is up
    suppressed: false, // the page asked hideItems
    busy: false,
    again: false,
  };
  let engaged = false;

  function triggerItem(t) {
    return t && isObject(t.action) && typeof t.action.show === 'string' ? items.get(t.action.show) : undefined;
  }

  // The mode an item shows in: offline only in live mode, for an item that has an offline
  // variant, when no agent could serve now (or the trigger's draw said no).
  async function itemMode(item, drawSaidNo) {
    if (!live || !isObject(item.offline)) return 'online';
    if (drawSaidNo) return 'offline';
    return (await probability()) === 0 ? 'offline' : 'online';
  }

  function wcData(key) {
    return cm.data('WebChat.' + key);
  }

  let timer = null;
  function schedule() {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      evaluate();
    }, 30);
  }

  async function evaluate() {
    if (page.busy) {
      page.again = true;
      return;
    }
    page.busy = true;
    try {
      await evaluateOnce();
    } catch (err) {
      if (window.console) console.error(err);
    } finally {
      page.busy = false;
      if (page.again) {
        page.again = false;
        schedule();
      }
    }
  }

  // The configured triggers, in order; the first verified wins. A trigger of higher rank that
  // becomes verified later on the page takes over from the one showing.
  async function evaluateOnce() {
    if (page.phase !== 'configured' || engaged || page.paused || page.suppressed || wcData('open')) return;
    const s = snapshot();
    const limit = page.winner >= 0 ? page.winner : triggers.length;
    for (let i = 0; i < limit; i++) {
      const t = triggers[i];
      if (!test(t.when, s)) continue;
      if (!page.activated.has(i)) {
        page.activated.add(i);
        cm.publish('triggerActivated', { trigger: String(t.name || i) });
      }
      const item = triggerItem(t);
      const opens = isObject(t.action) && t.action.open !== undefined;
      if (!item && !opens) continue; // an item this visit already dismissed, or none
      if (item && item.kind === 'invitation' && state.dismissed.indexOf(String(item.name)) >= 0) continue;
      let drawSaidNo = false;
      if (t.onlyIfAgentsAvailable) {
        if (!page.draws.has(i)) {
          const p = await probability();
          page.draws.set(i, typeof p === 'number' && Math.random() < p);
          if (engaged || page.paused || page.suppressed) return;
        }
        drawSaidNo = !page.draws.get(i);
        // No agent for it: an item with an offline variant still shows (as offline in live
        // mode); anything else does nothing and leaves the place to the next trigger.
        if (drawSaidNo && !(item && isObject(item.offline))) continue;
      }
      if (opens) {
        page.winner = i;
        hideAll();
        openChat();
        return;
      }
      const mode = await itemMode(item, drawSaidNo);
      if (engaged || page.paused || page.suppressed) return;
      await stylesheet();
      if (engaged || page.paused || page.suppressed) return;
      const current = page.winner >= 0 ? triggerItem(triggers[page.winner]) : null;
      if (current && current !== item) removeItem(String(current.name));
      page.winner = i;
      const was = shown.get(String(item.name));
      if (!was || was.mode !== mode) showItem(item, mode);
      return;
    }
  }

  /* --------------------------------------------------------------- engagement */

  let contextTimer = null;
  let contextDue = false; // a change came while throttled: send once the period ends
  let contextSent = '';

  // Sends the visit's context to the chat: at engagement, on each page view while engaged, and
  // when a variable changes (at most every two seconds, the last change always sent).
  function sendContext(force) {
    if (!engaged) return;
    if (contextTimer && !force) {
      contextDue = true;
      return;
    }
    const c = context();
    const key = JSON.stringify([c.pages, c.variables]);
    if (!force && key === contextSent) return;
    contextSent = key;
    contextDue = false;
    clearTimeout(contextTimer);
    contextTimer = setTimeout(() => {
      contextTimer = null;
      if (contextDue) sendContext(false);
    }, 2000);
    cm.command('WebChatService.updateContext', { context: c }).fail((err) => debug('updateContext failed', err));
  }

  function engage() {
    if (!engaged) {
      engaged = true;
      hideAll();
    }
    update((st) => (st.engagedAt = now()));
    sendContext(true);
  }

  // A chat kept from an earlier page is engaged while it is not idle past the limit.
  function recentlyEngaged() {
    return typeof state.engagedAt !== 'number' || now() - state.engagedAt < IDLE_LIMIT;
  }

  // The visitor engages by starting a chat, or by writing in one the page opened for it (the
  // messaging trigger's conversation).
  cm.subscribe('WebChatService.started', () => engage());
  cm.subscribe('WebChatService.messageReceived', (e) => {
    const mine = (e.data.messages || []).some((m) => m && m.from && m.from.type === 'Client' && m.type === 'Message' && !m.restoring);
    if (!mine) return;
    if (engaged) update((st) => (st.engagedAt = now()));
    else engage();
  });
  // Another tab of the site took the chat up: this page shows no more items either.
  cm.subscribe('WebChatService.restored', (e) => {
    if (page.phase === 'configured' && e.data.reason === 'tab' && recentlyEngaged()) engage();
  });
  cm.subscribe('WebChatService.ended', () => {
    engaged = false;
    update((st) => delete st.engagedAt);
  });
  cm.subscribe('WebChat.closed', () => {
    if (engaged) return;
    page.paused = false;
    schedule();
  });

  // Messaging mode: continues the open conversation of the identity kept in this browser, if it
  // has one; true when there is a conversation on the page.
  function openConversation() {
    if (cm.data('WebChatService.sessionActive')) return Promise.resolve(true);
    return new Promise((resolve) =>
      cm
        .command('WebChatService.openConversation')
        .done(() => resolve(true))
        .fail(() => resolve(false))
    );
  }

  // Waits until the chat kept from the previous page is restored or given up.
  function keptChatSettled() {
    if (cm.data('WebChatService.sessionActive') || !cm.data('WebChatService.keptChat')) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearInterval(poll);
        resolve();
      };
      // The outcome is either an event or the data flipping; check both, briefly.
      const poll = setInterval(() => {
        if (cm.data('WebChatService.sessionActive') || !cm.data('WebChatService.keptChat')) done();
      }, 100);
      setTimeout(done, 15000);
    });
  }

  async function start() {
    // 1. Embedded: the chat lives in the page's [data-cxgate-embed] element.
    const embed = conf.display === 'embedded' ? document.querySelector('[data-cxgate-embed]') : null;
    if (embed) {
      page.phase = 'embedded';
      cm.publish('triggerActivated', { trigger: 'embedded' });
      await keptChatSettled();
      // Messaging mode: the window shows the identity's open conversation rather than a form.
      if (!live) await openConversation();
      cm.command('WebChat.embed', { element: embed });
      if (cm.data('WebChatService.sessionActive') && recentlyEngaged()) engage();
      return;
    }
    await keptChatSettled();
    const active = !!cm.data('WebChatService.sessionActive');
    // 2. Continuation: engaged on an earlier page, within the idle limit: shown as it was.
    if (active && recentlyEngaged()) {
      page.phase = 'continuation';
      cm.publish('triggerActivated', { trigger: 'continuation' });
      engage();
      cm.command('WebChat.continue');
      return;
    }
    // 3. Messaging: the identity has an open conversation: open it.
    if (!live) {
      const opened = active || (await openConversation());
      if (opened && !engaged) {
        page.phase = 'messaging';
        cm.publish('triggerActivated', { trigger: 'messaging' });
        cm.command('WebChat.open');
        return;
      }
    }
    // 4. The configured triggers, evaluated now and whenever the session changes.
    page.phase = 'configured';
    liveRegion();
    showAnswers();
    evaluate();
  }

  /* ------------------------------------------------------------ keeping track */

  function refresh() {
    const changed = readPage();
    if (changed && engaged) sendContext(false);
    schedule();
  }

  setInterval(refresh, TICK);
  if (window.MutationObserver) {
    let pending = false;
    new MutationObserver(() => {
      if (pending) return;
      pending = true;
      setTimeout(() => {
        pending = false;
        refresh();
      }, 50);
    }).observe(document.documentElement, { childList: true, subtree: true, characterData: true });
  }
  document.addEventListener('input', refresh, true);
  document.addEventListener('change', refresh, true);
  // A title the page set after load goes into the history when the visitor leaves.
  window.addEventListener('pagehide', () => {
    update((st) => {
      const last = st.pages && st.pages[st.pages.length - 1];
      if (last && last.at === pageStart && !last.title) last.title = document.title || '';
    });
  });

  /* ------------------------------------------------------------------ commands */

  cm.registerCommand('setVariable', (e) => {
    const name = e.data.name;
    if (typeof name !== 'string' || !name || name.length > 64) return e.deferred.reject('A variable needs a name of 1 to 64 characters.');
    if (e.data.value === undefined || e.data.value === null) {
      update((st) => delete st.vars[name]);
      schedule();
      return e.deferred.resolve({ name, value: null });
    }
    const value = typed(name, e.data.value);
    if (value === undefined) return e.deferred.reject('The value of ' + name + ' is not a ' + ((declared.get(name) || {}).type || 'string, number or boolean') + '.');
    if (!own(state.vars, name) && Object.keys(state.vars).length >= VARS_MAX) return e.deferred.reject('Too many variables (at most ' + VARS_MAX + ').');
    if (setVars({ [name]: value }) && engaged) sendContext(false);
    schedule();
    e.deferred.resolve({ name, value });
  });
  cm.registerCommand('getSession', (e) => e.deferred.resolve(snapshot()));
  cm.registerCommand('hideItems', (e) => {
    page.suppressed = true;
    hideAll();
    e.deferred.resolve();
  });
  cm.registerEvents(['triggerActivated', 'itemShown', 'itemAccepted', 'itemDeclined']);
  cm.ready();

  // Variables a page sets before this script is there: window._cxgate.variables = {name: value}.
  if (isObject(root.variables)) {
    const early = {};
    for (const name of Object.keys(root.variables).slice(0, VARS_MAX)) {
      const v = name.length <= 64 ? typed(name, root.variables[name]) : undefined;
      if (v !== undefined) early[name] = v;
    }
    setVars(early);
  }

  // Start once the chat service is configured (it may be ready already: the event is kept).
  let started = false;
  cm.subscribe('WebChatService.ready', () => {
    if (started) return;
    started = true;
    readPage();
    start().catch((err) => window.console && console.error(err));
  });
})(window, document);

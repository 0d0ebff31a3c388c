/* cxgate loader, the part common to every deployment. GET /widgets/loader.js?deployment=K
   serves it after the deployment's published configuration:
   window._cxgate.proactive = {deployment, gateway, mode, enabled, maintenance, reason, display,
   variables, triggers, items}. See docs/proactive.md. */
(function () {
  'use strict';
  var c = window._cxgate, p = c && c.proactive;
  if (!p) return;
  if (!p.enabled || p.maintenance) {
    if (window.console && console.debug) {
      console.debug('cxgate: chat ' + (p.enabled ? 'in maintenance' : 'disabled') + ' for deployment ' +
        p.deployment + (p.reason ? ': ' + p.reason : ''));
    }
    return;
  }
  if (c.loading) return; // the tag twice on one page
  c.loading = true;
  var g = window._genesys = window._genesys || {};
  g.widgets = g.widgets || {};
  var w = g.widgets.webchat = g.widgets.webchat || {};
  if (!w.transport) w.transport = { type: 'cxgate', dataURL: p.gateway, deploymentKey: p.deployment };
  function load(src, next) {
    var s = document.createElement('script');
    s.src = src;
    s.async = true;
    if (next) s.onload = next;
    (document.head || document.documentElement).appendChild(s);
  }
  load(p.gateway + '/widgets/cxbus.js', function () { load(p.gateway + '/widgets/chatmanager.js'); });
})();

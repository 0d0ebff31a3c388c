/*
 * The cross-origin demo's loader. This page may live on shop.example while the gateway is
 * chat.example: cxbus.js is loaded from the gateway named in this script tag's data-gateway
 * attribute (empty: this page's own origin) and, with no dataURL configured, talks to where it
 * came from. The gateway is written in the page, never taken from its address: a page that loads
 * script from a URL in its query or hash runs whatever script a link points it at. ?deployment=
 * picks the deployment (default "demo"); the gateway must list this page's origin in the
 * deployment's origins.
 */
(function () {
  'use strict';
  var q = new URLSearchParams(location.search);
  var gw = ((document.currentScript && document.currentScript.getAttribute('data-gateway')) || location.origin).replace(/\/+$/, '');
  window._genesys = {
    widgets: {
      webchat: {
        transport: { type: 'cxgate', deploymentKey: q.get('deployment') || 'demo' },
        userData: { demo: 'cross-origin', page: location.origin }
      }
    }
  };
  var s = document.createElement('script');
  s.src = gw + '/widgets/cxbus.js';
  s.onload = function () {
    var d = document.createElement('script');
    d.src = 'demo.js';
    document.body.appendChild(d);
  };
  s.onerror = function () {
    document.getElementById('status').textContent = 'Could not load ' + s.src;
  };
  document.head.appendChild(s);
  document.addEventListener('DOMContentLoaded', function () {
    document.getElementById('gw').textContent = gw;
  });
})();

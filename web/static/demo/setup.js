/*
 * The demo pages' configuration: the same a Genesys Widgets page carries; only the transport type
 * differs. A file of its own, loaded before cxbus.js, because the gateway's pages run no inline
 * script (Content-Security-Policy: script-src 'self'). The page's data-mode picks the deployment.
 */
(function () {
  'use strict';
  var mode = document.documentElement.getAttribute('data-mode') || 'live';
  window._genesys = {
    widgets: {
      webchat: {
        // dataURL: where cxbus.js came from
        transport: { type: 'cxgate', deploymentKey: mode === 'async' ? 'demo-async' : 'demo' },
        userData: { demo: mode }
      }
    }
  };
})();

// Package web owns cxgate's browser side: the static files the gateway serves
// at the site root.
//
//   - static/widgets/cxbus.js: a drop-in for Genesys Widgets' CXBus bus
//     (window.CXBus, window._genesys.widgets.bus), a WebChatService plugin that
//     speaks the native wire (docs/wire.md) over a WebSocket with a long-poll
//     fallback and restores chats across page navigations and tabs, and a
//     small default chat window (the WebChat plugin). Plain ES2017, no build
//     step, no dependencies.
//   - static/widgets/loader.js: the part of GET /widgets/loader.js common to
//     every deployment (docs/proactive.md): after the deployment's published
//     configuration, it wires the transport and loads cxbus.js, then the
//     Chat Manager.
//   - static/widgets/chatmanager.js and chatmanager.css: the Chat Manager of
//     proactive engagement (docs/chatmanager.md), the bus plugin
//     "ChatManager" that the deployment's loader (static/widgets/loader.js,
//     served after the configuration by GET /widgets/loader.js) loads after
//     cxbus.js: session tracking in localStorage, triggers, buttons,
//     invitations, the leave-a-message form and the visit's context.
//   - static/demo/: demo visitor pages (live, async, one that loads the bus
//     from the gateway its data-gateway attribute names, and proactive/: pages
//     with one loader tag each), served only by the demo setup.
//
// The pages run under script-src 'self' and style-src 'self': every script
// is a file (no inline script or handler), and nothing loads script from a
// URL found in a page's address.
//
// Nothing here runs on the server: the gateway mounts [Files] at "/" so
// static/widgets/cxbus.js is served at /widgets/cxbus.js.
package web

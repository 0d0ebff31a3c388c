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
//   - static/demo/: demo visitor pages (live, async, and one that loads the
//     bus from another origin).
//
// Nothing here runs on the server: the gateway mounts [Files] at "/" so
// static/widgets/cxbus.js is served at /widgets/cxbus.js.
package web

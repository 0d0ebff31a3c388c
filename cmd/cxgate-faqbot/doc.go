// Command cxgate-faqbot runs the reference FAQ bot: it listens for the
// gateway's webhooks and answers chats of one queue as an agent of kind bot.
//
//	cxgate-faqbot -gateway http://127.0.0.1:8080 -token BOT-TOKEN -secret HOOK-SECRET \
//	    -queue frontdesk -human-queue support -listen 127.0.0.1:9000
//
// Point a webhook subscription (events thread.created, message.created,
// chat.transferred, chat.ended) at http://LISTEN/hook with the same secret, and
// give the bot's queue manualAccept: true so the bot takes chats itself. A
// bot listening on loopback or a private address needs the gateway's
// allowPrivateWebhooks: true.
package main

// Package adminapi serves the admin REST API under /v1/admin (docs/wire.md):
// the directory (deployments, queues, agents, webhooks) as resources over
// AdminService commands, and the webhook deliveries over WebhookService
// commands.
//
//	GET    /v1/admin/deployments          AdminService.listDeployments
//	POST   /v1/admin/deployments          AdminService.createDeployment (body: the deployment)
//	GET    /v1/admin/deployments/:key     AdminService.getDeployment {key}
//	PUT    /v1/admin/deployments/:key     AdminService.updateDeployment {key, deployment: body}
//	DELETE /v1/admin/deployments/:key     AdminService.deleteDeployment {key}
//
// and the same for /queues/:name, /agents/:id and /webhooks/:id, plus
//
//	GET  /v1/admin/webhooks/deliveries?state=pending|dead&limit=N&after=ID   WebhookService.listDeliveries {state, limit, after}
//	POST /v1/admin/webhooks/deliveries/:id/retry                   WebhookService.retryDelivery {id}
//
// and a visitor's data (plugins/lifecycle):
//
//	DELETE /v1/admin/identities/:id          DataService.eraseIdentity {identityId}
//	DELETE /v1/admin/chats/:id/identity      DataService.eraseIdentity {chatId}
//	GET    /v1/admin/identities/:id/export   DataService.exportIdentity {identityId}
//
// Every request needs Authorization: Bearer <admin token>: none or an unknown
// token is 401 unauthorized, another caller's token 403 forbidden. Answers
// are the native wire's envelope, {"status":"resolved","data":…} or
// {"status":"rejected","error":{"code","message"}} with the rejection's HTTP
// status. The transport holds no state; it never touches the store.
package adminapi

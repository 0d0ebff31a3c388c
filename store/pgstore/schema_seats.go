package pgstore

// migrationSeats is step 5: seats, a row per agent sitting in an open chat
// (a connected participant that is not a supervisor), so that a seated
// write (MutateSeated) counts an agent's chats across every gateway with
// one index scan instead of reading every open chat's record. Every write
// of a chat's record keeps its rows (the writer's batch, CreateChat);
// deleting a chat deletes them.
//
// The step fills the table from the open chats' records. PostgreSQL's JSON
// functions refuse a string holding \u0000 (a visitor may send one, in
// userData or a profile): each \u0000 is read as \ufffd, which keeps the
// JSON valid (after an escaped backslash too) and touches no participant.
const migrationSeats = `CREATE TABLE seats (
		agent_id text NOT NULL,
		chat_id  text NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
		PRIMARY KEY (agent_id, chat_id)
	);
	CREATE INDEX seats_chat ON seats (chat_id);
	INSERT INTO seats (agent_id, chat_id)
	SELECT DISTINCT p->>'id', c.id
	FROM chats c,
		LATERAL (SELECT replace(convert_from(c.record, 'UTF8'), E'\\u0000', E'\\ufffd')::json -> 'participants' AS ps) r,
		LATERAL json_array_elements(CASE WHEN json_typeof(r.ps) = 'array' THEN r.ps ELSE '[]'::json END) p
	WHERE c.open
		AND coalesce(p->>'id', '') <> ''
		AND coalesce((p->>'leftAt')::bigint, 0) = 0
		AND NOT coalesce((p->>'supervisor')::boolean, false);`

package pgstore

// migrationRecords holds identities, tokens, files and staged uploads, agent
// statuses, settings (the session key), and the chats' columns that list
// the open chats, an identity's chats and an agent's past chats.
//
// Ids a client may order by (agent_chats' agent and chat ids) are in the
// "C" collation: pages follow byte order, as the bbolt store's keys do,
// whatever the database's default collation.
//
// A file's content is in file_chunks under its id, written while it is a
// staged file (staged_files) and adopted by the transaction that inserts
// its files row, so neither table owns the chunks by a foreign key;
// deleting a files row deletes its chunks (trigger files_chunks, which also
// runs when a chat's deletion cascades to its files), deleting a staged
// file deletes its chunks explicitly.
const migrationRecords = `ALTER TABLE chats ADD COLUMN open boolean NOT NULL DEFAULT true;
	ALTER TABLE chats ADD COLUMN identity_id text;
	CREATE INDEX chats_open ON chats (id) WHERE open;
	CREATE INDEX chats_identity ON chats (identity_id) WHERE identity_id IS NOT NULL;
	CREATE TABLE agent_chats (
		agent_id text COLLATE "C" NOT NULL,
		ended_at bigint NOT NULL,
		chat_id  text COLLATE "C" NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
		PRIMARY KEY (agent_id, ended_at, chat_id)
	);
	CREATE INDEX agent_chats_chat ON agent_chats (chat_id);
	CREATE TABLE identities (
		id     text PRIMARY KEY,
		record bytea NOT NULL
	);
	CREATE TABLE tokens (
		hash    bytea PRIMARY KEY,
		chat_id text NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
		record  bytea NOT NULL
	);
	CREATE INDEX tokens_chat ON tokens (chat_id);
	CREATE TABLE files (
		id      text PRIMARY KEY,
		chat_id text NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
		record  bytea NOT NULL
	);
	CREATE INDEX files_chat ON files (chat_id);
	CREATE TABLE staged_files (
		id         text PRIMARY KEY,
		created_at bigint NOT NULL
	);
	CREATE INDEX staged_files_created ON staged_files (created_at);
	CREATE TABLE file_chunks (
		file_id text NOT NULL,
		n       integer NOT NULL,
		data    bytea NOT NULL,
		PRIMARY KEY (file_id, n)
	);
	CREATE FUNCTION files_drop_chunks() RETURNS trigger LANGUAGE plpgsql
		SET search_path FROM CURRENT AS $$
	BEGIN
		DELETE FROM file_chunks c USING gone g WHERE c.file_id = g.id;
		RETURN NULL;
	END $$;
	CREATE TRIGGER files_chunks AFTER DELETE ON files REFERENCING OLD TABLE AS gone
		FOR EACH STATEMENT EXECUTE FUNCTION files_drop_chunks();
	CREATE TABLE agent_statuses (
		agent_id text PRIMARY KEY,
		status   text NOT NULL
	);
	CREATE TABLE settings (
		name  text PRIMARY KEY,
		value bytea NOT NULL
	);`

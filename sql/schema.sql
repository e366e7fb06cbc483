-- siamsql schema: a Siamese BERT model stored in three ordinary tables.
-- The extension runs this (idempotently) when a model is first written;
-- loading the extension alone never creates tables.
--
-- siam_model.revision is a database-wide generation number: every change to a
-- model's rows sets it to a new, never-reused value, so a connection that has
-- the model cached sees at its next statement that it must reload.

CREATE TABLE IF NOT EXISTS siam_model(
  name       TEXT PRIMARY KEY,
  config     TEXT NOT NULL,            -- one JSON document, format "siamsql/1"
  revision   INTEGER NOT NULL DEFAULT 0,
  source     TEXT,                     -- where it was imported from (not part of the model)
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT
);

CREATE TABLE IF NOT EXISTS siam_tensor(
  model TEXT NOT NULL,
  name  TEXT NOT NULL,                 -- e.g. encoder.layer.0.attention.self.query.weight
  dtype TEXT NOT NULL,                 -- f32 | f16 | bf16
  shape TEXT NOT NULL,                 -- JSON array, torch layout
  data  BLOB NOT NULL,                 -- one zstd frame (with checksum) of the raw little-endian tensor
  PRIMARY KEY(model, name)
);

CREATE TABLE IF NOT EXISTS siam_vocab(
  model TEXT NOT NULL,
  id    INTEGER NOT NULL,
  token TEXT NOT NULL,
  PRIMARY KEY(model, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS siam_meta(
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO siam_meta(key, value) VALUES ('generation', 0);

-- Every change bumps the generation and stamps the model with it.
CREATE TRIGGER IF NOT EXISTS siam_model_insert AFTER INSERT ON siam_model BEGIN
  UPDATE siam_meta SET value = value + 1 WHERE key = 'generation';
  UPDATE siam_model SET revision = (SELECT value FROM siam_meta WHERE key = 'generation')
   WHERE name = NEW.name;
END;
CREATE TRIGGER IF NOT EXISTS siam_model_update AFTER UPDATE OF name, config ON siam_model BEGIN
  UPDATE siam_tensor SET model = NEW.name WHERE model = OLD.name AND NEW.name IS NOT OLD.name;
  UPDATE siam_vocab  SET model = NEW.name WHERE model = OLD.name AND NEW.name IS NOT OLD.name;
  UPDATE siam_meta SET value = value + 1 WHERE key = 'generation';
  UPDATE siam_model SET revision = (SELECT value FROM siam_meta WHERE key = 'generation'),
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
   WHERE name = NEW.name;
END;
-- Deleting a model removes all its rows.
CREATE TRIGGER IF NOT EXISTS siam_model_delete AFTER DELETE ON siam_model BEGIN
  DELETE FROM siam_tensor WHERE model = OLD.name;
  DELETE FROM siam_vocab WHERE model = OLD.name;
END;

CREATE TRIGGER IF NOT EXISTS siam_tensor_insert AFTER INSERT ON siam_tensor BEGIN
  UPDATE siam_meta SET value = value + 1 WHERE key = 'generation';
  UPDATE siam_model SET revision = (SELECT value FROM siam_meta WHERE key = 'generation')
   WHERE name = NEW.model;
END;
CREATE TRIGGER IF NOT EXISTS siam_tensor_update AFTER UPDATE ON siam_tensor BEGIN
  UPDATE siam_meta SET value = value + 1 WHERE key = 'generation';
  UPDATE siam_model SET revision = (SELECT value FROM siam_meta WHERE key = 'generation')
   WHERE name IN (NEW.model, OLD.model);
END;
CREATE TRIGGER IF NOT EXISTS siam_tensor_delete AFTER DELETE ON siam_tensor BEGIN
  UPDATE siam_meta SET value = value + 1 WHERE key = 'generation';
  UPDATE siam_model SET revision = (SELECT value FROM siam_meta WHERE key = 'generation')
   WHERE name = OLD.model;
END;

CREATE TRIGGER IF NOT EXISTS siam_vocab_insert AFTER INSERT ON siam_vocab BEGIN
  UPDATE siam_meta SET value = value + 1 WHERE key = 'generation';
  UPDATE siam_model SET revision = (SELECT value FROM siam_meta WHERE key = 'generation')
   WHERE name = NEW.model;
END;
CREATE TRIGGER IF NOT EXISTS siam_vocab_update AFTER UPDATE ON siam_vocab BEGIN
  UPDATE siam_meta SET value = value + 1 WHERE key = 'generation';
  UPDATE siam_model SET revision = (SELECT value FROM siam_meta WHERE key = 'generation')
   WHERE name IN (NEW.model, OLD.model);
END;
CREATE TRIGGER IF NOT EXISTS siam_vocab_delete AFTER DELETE ON siam_vocab BEGIN
  UPDATE siam_meta SET value = value + 1 WHERE key = 'generation';
  UPDATE siam_model SET revision = (SELECT value FROM siam_meta WHERE key = 'generation')
   WHERE name = OLD.model;
END;

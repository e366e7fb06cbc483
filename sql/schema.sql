-- siamsql schema: a Siamese BERT model stored in three ordinary tables.
-- The extension runs this (idempotently) when a model is first written;
-- loading the extension alone never creates tables.
--
-- siam_model.revision names one exact content of a model's rows: every
-- change to them (config, a tensor, a token; by any connection or process)
-- stamps the model with a new random 64-bit revision.  A random number never
-- comes back: not when a transaction rolls back, not when the tables are
-- dropped and a model imported again, not when a backup is restored (the
-- restored rows come back with the revision they had, which named exactly
-- them).  A connection keeps a loaded model only while its revision, and the
-- schema holding these triggers, are what they were when it was loaded.
--
-- siam_tensor_no_blob_writes holds no rows (WHERE 0): it exists because
-- SQLite refuses incremental blob writes (sqlite3_blob_open for writing) on
-- a table with an expression index, and blob writes do not fire triggers.

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

CREATE INDEX IF NOT EXISTS siam_tensor_no_blob_writes ON siam_tensor((0)) WHERE 0;

-- Every change stamps the model with a new random revision.
CREATE TRIGGER IF NOT EXISTS siam_model_insert AFTER INSERT ON siam_model BEGIN
  UPDATE siam_model SET revision = random() WHERE name = NEW.name;
END;
CREATE TRIGGER IF NOT EXISTS siam_model_update AFTER UPDATE OF name, config ON siam_model BEGIN
  UPDATE siam_tensor SET model = NEW.name WHERE model = OLD.name AND NEW.name IS NOT OLD.name;
  UPDATE siam_vocab  SET model = NEW.name WHERE model = OLD.name AND NEW.name IS NOT OLD.name;
  UPDATE siam_model SET revision = random(), updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
   WHERE name = NEW.name;
END;
-- Deleting a model removes all its rows.
CREATE TRIGGER IF NOT EXISTS siam_model_delete AFTER DELETE ON siam_model BEGIN
  DELETE FROM siam_tensor WHERE model = OLD.name;
  DELETE FROM siam_vocab WHERE model = OLD.name;
END;

CREATE TRIGGER IF NOT EXISTS siam_tensor_insert AFTER INSERT ON siam_tensor BEGIN
  UPDATE siam_model SET revision = random() WHERE name = NEW.model;
END;
CREATE TRIGGER IF NOT EXISTS siam_tensor_update AFTER UPDATE ON siam_tensor BEGIN
  UPDATE siam_model SET revision = random() WHERE name IN (NEW.model, OLD.model);
END;
CREATE TRIGGER IF NOT EXISTS siam_tensor_delete AFTER DELETE ON siam_tensor BEGIN
  UPDATE siam_model SET revision = random() WHERE name = OLD.model;
END;

CREATE TRIGGER IF NOT EXISTS siam_vocab_insert AFTER INSERT ON siam_vocab BEGIN
  UPDATE siam_model SET revision = random() WHERE name = NEW.model;
END;
CREATE TRIGGER IF NOT EXISTS siam_vocab_update AFTER UPDATE ON siam_vocab BEGIN
  UPDATE siam_model SET revision = random() WHERE name IN (NEW.model, OLD.model);
END;
CREATE TRIGGER IF NOT EXISTS siam_vocab_delete AFTER DELETE ON siam_vocab BEGIN
  UPDATE siam_model SET revision = random() WHERE name = OLD.model;
END;

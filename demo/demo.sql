-- The headline job: a Siamese BERT stored in the database finds
-- near-duplicate and related passages with plain SQL.
-- Run by `make demo` (see demo/run.sh) on a fresh database.
.load ./siamsql
.headers on
.mode box --wrap 60

SELECT siam_import('default', 'models/default') AS tensors_imported;

CREATE TABLE passages(package TEXT, source TEXT, synopsis TEXT, body TEXT);
.mode tabs
.import demo/data/passages.tsv passages
.mode box --wrap 60
DELETE FROM passages WHERE package = 'package';   -- the header line, if any

-- One embedding per passage, stored beside it (float32 BLOB).
ALTER TABLE passages ADD COLUMN emb BLOB;
UPDATE passages SET emb = siam_embed('default', body);
SELECT count(*) AS passages, siam_dim('default') AS dim FROM passages;

.print
.print Near-duplicate passages (a self-join on cosine similarity):
SELECT a.package AS a, b.package AS b, round(siam_similarity(a.emb, b.emb), 3) AS score,
       substr(a.body, 1, 60) AS passage_a
  FROM passages a JOIN passages b ON a.rowid < b.rowid
 WHERE siam_similarity(a.emb, b.emb) > 0.95
 ORDER BY score DESC
 LIMIT 12;

.print
.print Top matches for a free-text query:
WITH q AS (SELECT siam_embed('default', 'compress and decompress files in a fast archive format') AS v)
SELECT package, synopsis, round(siam_similarity(emb, q.v), 3) AS score
  FROM passages, q
 ORDER BY score DESC
 LIMIT 8;

WITH q AS (SELECT siam_embed('default', 'library for reading and writing image files') AS v)
SELECT package, synopsis, round(siam_similarity(emb, q.v), 3) AS score
  FROM passages, q
 ORDER BY score DESC
 LIMIT 8;

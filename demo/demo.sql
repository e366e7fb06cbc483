-- The headline job: a Siamese BERT stored in the database finds
-- near-duplicate and related passages with plain SQL.
-- Run by `make demo` (see demo/run.sh) on a fresh database.
.load ./siamsql
.headers on
.mode box --wrap 60

SELECT siam_import('default', 'models/default') AS tensors_imported;

CREATE TABLE passages(package TEXT, source TEXT, synopsis TEXT, body TEXT);
-- Tab-separated, no quoting: ascii mode with tab and newline separators.
.mode ascii
.separator "\t" "\n"
.import demo/data/passages.tsv passages
.mode box --wrap 60
DELETE FROM passages WHERE package = 'package';   -- the header line, if any

-- One embedding per passage, stored beside it (float32 BLOB), computed in
-- batches by siam_embed_each (the same bytes as siam_embed row by row).
ALTER TABLE passages ADD COLUMN emb BLOB;
UPDATE passages SET emb = e.embedding
  FROM siam_embed_each('default', 'SELECT rowid, body FROM passages') AS e
 WHERE e.id = passages.rowid;
SELECT count(*) AS passages, siam_dim('default') AS dim FROM passages;

.print
.print Near-duplicate passages that are not identical (siam_pairs: all pairs above a threshold, joined back):
SELECT a.package AS a, b.package AS b, round(p.score, 3) AS score,
       substr(a.body, 1, 50) AS passage_a, substr(b.body, 1, 50) AS passage_b
  FROM siam_pairs('passages', 'emb', 0.9) AS p
  JOIN passages a ON a.rowid = p.rowid_a
  JOIN passages b ON b.rowid = p.rowid_b
 WHERE a.body <> b.body AND a.source <> b.source
 ORDER BY p.score DESC
 LIMIT 10;

.print
.print Same-source siblings whose descriptions differ most, yet are still found:
SELECT a.package AS a, b.package AS b, round(p.score, 3) AS score
  FROM siam_pairs('passages', 'emb', 0.8) AS p
  JOIN passages a ON a.rowid = p.rowid_a
  JOIN passages b ON b.rowid = p.rowid_b
 WHERE a.source = b.source AND a.body <> b.body
 ORDER BY p.score ASC
 LIMIT 8;

-- Hybrid search needs an FTS5 index over the same rows.
CREATE VIRTUAL TABLE passages_fts USING fts5(body, content='passages', content_rowid='rowid');
INSERT INTO passages_fts(passages_fts) VALUES('rebuild');

.print
.print Free-text queries, the model alone (siam_nearest) beside hybrid search (siam_search: the model fused with FTS5 bm25):
.mode box --wrap 40
CREATE TEMP TABLE queries(qid INTEGER PRIMARY KEY, query TEXT);
INSERT INTO queries(query) VALUES ('extract files from compressed archives'),
  ('a small text editor for the terminal'), ('play music files from the command line');
WITH d AS (SELECT q.qid, row_number() OVER (PARTITION BY q.qid ORDER BY n.score DESC, n.rowid) AS r,
                  p.package || ': ' || p.synopsis AS dense
             FROM queries q, siam_nearest('passages', 'emb', siam_embed('default', q.query), 6) AS n
             JOIN passages p ON p.rowid = n.rowid),
     h AS (SELECT q.qid, row_number() OVER (PARTITION BY q.qid ORDER BY s.score DESC, s.rowid) AS r,
                  p.package || ': ' || p.synopsis AS hybrid
             FROM queries q, siam_search('passages', 'body', 'emb', 'default', q.query, 6) AS s
             JOIN passages p ON p.rowid = s.rowid)
SELECT CASE d.r WHEN 1 THEN q.query ELSE '' END AS query, d.r AS rank, d.dense, h.hybrid
  FROM queries q JOIN d ON d.qid = q.qid JOIN h ON h.qid = d.qid AND h.r = d.r
 ORDER BY q.qid, d.r;

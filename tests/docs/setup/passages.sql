-- The tables the docs' SQL recipes take as given, for tests/docs/run_snippets.py:
-- a model 'mini' (here the shipped default model), 300 real passages
-- (demo/data), queries with embeddings, headlines, and an empty
-- passage_vectors. Run with siamsql loaded, in the scratch directory.
SELECT siam_import('mini', 'models/default');

.mode ascii
.separator "\t" "\n"
.import demo/data/passages.tsv demo_passages
.mode list
CREATE TABLE passages(id INTEGER PRIMARY KEY, body TEXT, lang TEXT);
INSERT INTO passages(body, lang) SELECT text, 'en' FROM demo_passages ORDER BY rowid LIMIT 300;
CREATE TABLE headlines(title TEXT);
INSERT INTO headlines SELECT synopsis FROM demo_passages ORDER BY rowid LIMIT 60;
DROP TABLE demo_passages;

CREATE TABLE passage_vectors(id INTEGER PRIMARY KEY, emb BLOB);
CREATE TABLE queries(id INTEGER PRIMARY KEY, text TEXT, emb BLOB);
INSERT INTO queries(text) VALUES ('extract files from compressed archives'),
                                 ('a small text editor for the terminal');
UPDATE queries SET emb = siam_embed('mini', text);

// The Node door: better-sqlite3@12 loads siamsql and runs
// import -> embed -> similarity -> update, as the README shows.
// Usage: node tests/doors/door.js PATH_TO_siamsql.so MODEL_DIR
'use strict';
const Database = require('better-sqlite3');
const [ext, modelDir] = process.argv.slice(2);
let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) passed++; else { failed++; console.log(`FAIL ${name} ${detail ?? ''}`); }
}
const db = new Database(':memory:');
db.loadExtension(ext);
const n = db.prepare('SELECT siam_import(?, ?) AS n').get('m', modelDir).n;
check('import', n > 5, n);
const dim = db.prepare("SELECT siam_dim('m') AS d").get().d;
const emb = db.prepare("SELECT siam_embed('m', ?) AS e").get('a cat sat on the mat').e;
check('embed is float32 bytes', Buffer.isBuffer(emb) && emb.length === 4 * dim, emb && emb.length);
const vec = new Float32Array(emb.buffer, emb.byteOffset, emb.length / 4);
check('embedding is finite', vec.every(Number.isFinite));
const same = db.prepare("SELECT siam_similarity('m', ?, ?) AS s").get('a cat', 'a cat').s;
check('self similarity', Math.abs(same - 1) < 1e-6, same);
db.prepare(`UPDATE siam_tensor SET data = siam_pack(zeroblob(length(siam_unpack(data))))
            WHERE model = 'm' AND name = 'embeddings.LayerNorm.bias'`).run();
const after = db.prepare("SELECT siam_embed('m', ?) AS e").get('a cat sat on the mat').e;
check('update seen by next statement', !after.equals(emb));
try {
  db.prepare("SELECT siam_embed('nope', 'x')").get();
  check('error', false, 'no error thrown');
} catch (e) {
  check('error names the function', e.message === "siam_embed: no model named 'nope'", e.message);
}
console.log(`door.js: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

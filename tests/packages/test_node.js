// The npm package (node/), packed with npm pack and installed from the
// tarball into a temporary project beside better-sqlite3@12: load(db),
// getLoadablePath(), getDefaultModelPath(), from require and from import.
// Usage (tests/shell/node_package.sh runs it): node test_node.js, in the project.
'use strict';
const path = require('node:path');
const Database = require('better-sqlite3');
const siamsql = require('siamsql');

let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) passed++; else { failed++; console.log(`FAIL ${name} ${detail ?? ''}`); }
}
function thrown(fn) {
  try { fn(); } catch (e) { return e; }
  return null;
}

async function main() {
  const installed = path.join(process.cwd(), 'node_modules', 'siamsql');
  check('getLoadablePath is the bundled copy', siamsql.getLoadablePath() === path.join(installed, 'siamsql.so'),
        siamsql.getLoadablePath());
  check('getDefaultModelPath is the bundled copy',
        siamsql.getDefaultModelPath() === path.join(installed, 'models', 'default'), siamsql.getDefaultModelPath());

  const db = new Database(':memory:');
  siamsql.load(db);
  const info = JSON.parse(db.prepare('SELECT siam_info() AS i').get().i);
  check("siam_info's version is the package's", info.version === require(path.join(installed, 'package.json')).version, info.version);
  db.prepare("SELECT siam_import('default', ?)").get(siamsql.getDefaultModelPath());
  const score = db.prepare("SELECT siam_similarity('default', ?, ?) AS s").pluck();
  const query = 'library to read zip archives';
  const related = score.get(query, 'Ruby module for reading and writing zip files');
  const unrelated = score.get(query, 'fonts for the Tamil script');
  check('related texts score above unrelated ones', related > unrelated + 0.1, `${related} ${unrelated}`);
  const e = thrown(() => db.prepare("SELECT siam_embed('nope', 'x')").get());
  check('errors name the function', e && e.message === "siam_embed: no model named 'nope'", e && e.message);
  check('load() refuses what cannot load extensions', thrown(() => siamsql.load({})) instanceof TypeError);

  const esm = await import('siamsql');
  check('import gives the same functions', esm.load === siamsql.load &&
        esm.getLoadablePath() === siamsql.getLoadablePath() && typeof esm.getDefaultModelPath === 'function');
  const db2 = new Database(':memory:');
  esm.load(db2);
  check('load through import', db2.prepare("SELECT siam_f32_json(siam_f32('[1.5]')) AS j").get().j === '[1.5]');
  console.log(`test_node.js: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.log(`FAIL ${e.stack}`); process.exit(1); });

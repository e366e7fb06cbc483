// siamsql for Node: the path of the siamsql SQLite extension, and load(db)
// for any binding with loadExtension(path) (better-sqlite3; node:sqlite's
// DatabaseSync opened with allowExtension: true).  The same shape as
// sqlite-vec's package.
//
//   const Database = require('better-sqlite3');
//   const siamsql = require('siamsql');
//   const db = new Database('notes.db');
//   siamsql.load(db);
//   db.prepare("SELECT siam_import('default', ?)").get(siamsql.getDefaultModelPath());
//
// The library is looked for in this package first (bundled by npm pack),
// then where `make install` puts it (the system library directory); the
// default model likewise.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const MULTIARCH = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];

function firstExisting(what, candidates, isKind) {
  const found = candidates.find((p) => {
    try { return isKind(fs.statSync(p)); } catch { return false; }
  });
  if (found) return found;
  throw new Error(`siamsql: no ${what} found (looked in ${candidates.join(', ')}); run \`make install\` ` +
                  'in the siamsql tree, or reinstall this package packed (npm pack) from a tree where `make` has built siamsql.so');
}

/** The path of siamsql.so, for any connection's loadExtension(). */
function getLoadablePath() {
  const installed = (MULTIARCH ? [`/usr/lib/${MULTIARCH}`] : []).concat('/usr/lib');
  return firstExisting('siamsql.so', [path.join(__dirname, 'siamsql.so')].concat(
    installed.map((dir) => path.join(dir, 'siamsql.so'))), (s) => s.isFile());
}

/** The directory of the shipped default model, for siam_import(). */
function getDefaultModelPath() {
  return firstExisting('default model', [path.join(__dirname, 'models', 'default'),
    '/usr/local/share/siamsql/models/default', '/usr/share/siamsql/models/default'], (s) => s.isDirectory());
}

/** Loads siamsql into db (anything with loadExtension(path)). */
function load(db) {
  db.loadExtension(getLoadablePath());
}

module.exports = { getLoadablePath, getDefaultModelPath, load };

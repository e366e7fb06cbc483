// npm pack's prepack step: copies siamsql.so (built by `make`) and the
// default model from the siamsql tree into this package, so the tarball
// needs nothing else from the tree.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const pkg = path.resolve(__dirname, '..');
const tree = path.resolve(pkg, '..');
const library = path.join(tree, 'siamsql.so');

function fail(message) {
  console.error(`siamsql: ${message}`);
  process.exit(1);
}

if (!fs.existsSync(library)) fail(`${library} is missing: run \`make\` in ${tree} first`);
// `make sanitize` leaves a build that loads only under LD_PRELOAD.
if (fs.readFileSync(library).includes('libasan.so')) {
  fail(`${library} is a sanitizer build: run \`make clean && make\` first`);
}
fs.copyFileSync(library, path.join(pkg, 'siamsql.so'));
fs.rmSync(path.join(pkg, 'models'), { recursive: true, force: true });
fs.cpSync(path.join(tree, 'models', 'default'), path.join(pkg, 'models', 'default'), { recursive: true });

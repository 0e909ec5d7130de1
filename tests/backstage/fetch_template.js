// Fills a Scaffolder skeleton as Backstage's fetch:template action does: every file's
// path and text are nunjucks templates read with `${{ }}` for values and no HTML
// escaping, with `values` as the context.
//
//   node fetch_template.js SKELETON_DIR TARGET_DIR VALUES_JSON
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const nunjucks = require('nunjucks');

const [skeleton, target, valuesJson] = process.argv.slice(2);
const env = nunjucks.configure({
  tags: { variableStart: '${{', variableEnd: '}}' },
  autoescape: false,
  throwOnUndefined: true,
});
const context = { values: JSON.parse(valuesJson) };

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap(e => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

for (const file of walk(skeleton)) {
  const rel = env.renderString(path.relative(skeleton, file), context);
  const out = path.join(target, rel);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, env.renderString(fs.readFileSync(file, 'utf8'), context));
}

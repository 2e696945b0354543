// Validates an AsyncAPI document with AsyncAPI's own parser (@asyncapi/parser,
// installed into .tools/ by scripts/bootstrap); relative $refs (to
// openapi.yaml) are resolved from the document's folder. Exits 1 on any
// error, printing errors and warnings.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(resolve(process.env.TOOLS_DIR || '.tools', 'node_modules') + '/');
const { Parser, fromFile } = require('@asyncapi/parser');

const path = resolve(process.argv[2]);
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, path).parse();
let errors = 0;
for (const d of diagnostics) {
  const level = ['error', 'warning', 'info', 'hint'][d.severity] ?? d.severity;
  if (d.severity === 0) errors++;
  // Hints and infos (such as "3.1.0 exists") are not findings.
  if (d.severity > 1) continue;
  console.log(`${path}: ${level}: ${d.message} at ${d.path.join('.')}`);
}
if (!document || errors) {
  console.error(`${path}: ${errors} error(s)`);
  process.exit(1);
}
console.log(`${path}: OK (AsyncAPI ${document.version()}, ${document.allMessages().length} messages)`);

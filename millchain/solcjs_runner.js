// The npm solc (solcjs) behind a solc-like command line, through its JS API (the solcjs CLI prints a
// non-JSON SMT notice before its Standard JSON output, which breaks tools that parse it).
//   node solcjs_runner.js NODE_MODULES --version          -> "Version: <long version>" like native solc
//   node solcjs_runner.js NODE_MODULES [--standard-json]  -> Standard JSON in on stdin, out on stdout
// Other solc flags (--allow-paths, --base-path …) are accepted and ignored: every source arrives with its
// content, so nothing is read from disk.
const path = require('path');
const solc = require(path.join(process.argv[2], 'solc'));
const args = process.argv.slice(3);
if (args.includes('--version')) {
  process.stdout.write('solc, the solidity compiler commandline interface\nVersion: ' + solc.version() + '\n');
} else {
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => {
    const refuse = (p) => ({ error: 'import not supplied with the input: ' + p });
    process.stdout.write(solc.compile(Buffer.concat(chunks).toString('utf8'), { import: refuse }));
  });
}

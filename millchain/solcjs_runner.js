// Runs the npm solc (solcjs) through its JS API: Standard JSON in on stdin, Standard JSON out on stdout.
// The JS API is used rather than the solcjs CLI because the CLI prints a non-JSON SMT notice first.
// argv[2]: the node_modules directory holding the pinned `solc` package.
const path = require('path');
const solc = require(path.join(process.argv[2], 'solc'));
if (process.argv[3] === '--version') {
  process.stdout.write(solc.version());
} else {
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => {
    // Every source arrives with its content, so an import callback would be a bug: say so instead of reading disk.
    const refuse = (p) => ({ error: 'import not supplied by millchain: ' + p });
    process.stdout.write(solc.compile(Buffer.concat(chunks).toString('utf8'), { import: refuse }));
  });
}

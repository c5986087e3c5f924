// force timezone to UTC to allow tests to work regardless of local timezone
// generally used by snapshots, but can affect specific tests
process.env.TZ = 'UTC';

const fs = require('fs');
const path = require('path');
const base = require('./.config/jest.config');

// The d3 packages that @grafana/data and @grafana/ui depend on point `main` at
// an ES module build (`dist/<name>.mjs`) that the scaffold's transform does not
// handle ("Unexpected token 'export'"). Each also ships the same code as a UMD
// build (`dist/<name>.js`): map those packages to it.
function d3UmdBuilds() {
  const nodeModules = path.resolve(__dirname, 'node_modules');
  const map = {};
  for (const name of fs.existsSync(nodeModules) ? fs.readdirSync(nodeModules) : []) {
    if (!name.startsWith('d3-')) {
      continue;
    }
    let main;
    try {
      main = JSON.parse(fs.readFileSync(path.join(nodeModules, name, 'package.json'), 'utf8')).main;
    } catch {
      continue;
    }
    const umd = path.join(nodeModules, name, 'dist', `${name}.js`);
    if (typeof main === 'string' && main.endsWith('.mjs') && fs.existsSync(umd)) {
      map[`^${name}$`] = umd;
    }
  }
  return map;
}

module.exports = {
  // Jest configuration provided by Grafana scaffolding
  ...base,
  moduleNameMapper: { ...base.moduleNameMapper, ...d3UmdBuilds() },
};

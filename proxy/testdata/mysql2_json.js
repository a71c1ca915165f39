// Reads a JSON column with node's mysql2, in the text and the binary protocol, and prints
// what JavaScript type each came back as: MariaDB sends JSON as LONGTEXT, so mysql2 parses
// it into an object only when the extended metadata (format "json") reached it.
// Usage: node mysql2_json.js host port user password database
const mysql = require('mysql2/promise');

async function main() {
  const [host, port, user, password, database] = process.argv.slice(2);
  const conn = await mysql.createConnection({ host, port: Number(port), user, password, database, connectTimeout: 10000 });
  try {
    const [text] = await conn.query('SELECT j FROM doc WHERE id = 1');
    const [binary] = await conn.execute('SELECT j FROM doc WHERE id = ?', [1]);
    console.log(JSON.stringify({ text: typeof text[0].j, binary: typeof binary[0].j, value: binary[0].j }));
  } finally {
    await conn.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

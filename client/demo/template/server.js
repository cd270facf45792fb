'use strict';
// Entry point: serves the greeter on $PORT (127.0.0.1).
const { listen } = require('./src/app');

const port = Number(process.env.PORT || 3000);

listen(port).then(
  (server) => {
    console.log('greeter listening on http://127.0.0.1:' + server.address().port + ' (pid ' + process.pid + ')');
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

// node_echo.js PORT: the Node peer of the `echo` workload (net, write back).
const net = require('net');
const server = net.createServer({ noDelay: true }, (s) => {
  s.on('data', (d) => s.write(d));
  s.on('error', () => {});
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('listening'));

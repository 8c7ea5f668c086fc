// TCP echo server (Node's net module). Usage: node tcp_server.js [PORT]
const net = require('net');
const port = Number(process.argv[2] || 5050);
const server = net.createServer((socket) => {
  socket.on('data', (data) => socket.write(data));   // echo
  socket.on('end', () => socket.end());              // the client closed: close too
});
server.listen(port, '127.0.0.1');

// UDP echo server (Node's dgram module). Usage: node udp_server.js [PORT]
const dgram = require('dgram');
const port = Number(process.argv[2] || 5051);
const server = dgram.createSocket('udp4');
server.on('message', (msg, peer) => server.send(msg, peer.port, peer.address));
server.bind(port, '127.0.0.1');

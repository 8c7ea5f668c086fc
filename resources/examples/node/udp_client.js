// UDP echo client (Node's dgram module): three datagrams, each echoed back.
// Usage: node udp_client.js [PORT]
const dgram = require('dgram');
const port = Number(process.argv[2] || 5051);
const messages = ['hello', 'echo', 'bye'];
const client = dgram.createSocket('udp4');
const next = () => client.send(messages.shift(), port, '127.0.0.1');
client.on('message', (msg) => {
  console.log(msg.toString());
  if (messages.length > 0) next();
  else client.close();
});
setTimeout(() => { console.error('no reply'); process.exit(1); }, 5000).unref();
next();

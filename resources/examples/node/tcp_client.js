// TCP echo client (Node's net module): three messages, each echoed back.
// Usage: node tcp_client.js [PORT]
const net = require('net');
const port = Number(process.argv[2] || 5050);
const messages = ['hello', 'echo', 'bye'];
const client = net.connect(port, '127.0.0.1', () => client.write(messages.shift()));
client.on('data', (data) => {
  console.log(data.toString());
  if (messages.length > 0) client.write(messages.shift());
  else client.end();
});

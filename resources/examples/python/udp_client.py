"""UDP echo client: three datagrams, each echoed back. Usage: udp_client.py [PORT]"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5051
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.settimeout(5)
for text in ("hello", "echo", "bye"):
    client.sendto(text.encode(), ("127.0.0.1", port))
    data, peer = client.recvfrom(2048)
    print(data.decode())
client.close()

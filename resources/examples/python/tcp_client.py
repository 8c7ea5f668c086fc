"""TCP echo client: three messages, each echoed back. Usage: tcp_client.py [PORT]"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5050
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("127.0.0.1", port))
for text in ("hello", "echo", "bye"):
    client.sendall(text.encode())
    print(client.recv(4096).decode())
client.close()

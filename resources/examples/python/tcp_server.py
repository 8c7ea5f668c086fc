"""TCP echo server: sends back every byte it receives. Usage: tcp_server.py [PORT]"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5050
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(5)
while True:
    conn, peer = server.accept()
    while True:
        data = conn.recv(4096)
        if not data:          # the client closed its side
            break
        conn.sendall(data)
    conn.close()

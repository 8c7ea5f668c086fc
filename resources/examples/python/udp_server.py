"""UDP echo server: sends every datagram back. Usage: udp_server.py [PORT]"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5051
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", port))
while True:
    data, peer = server.recvfrom(2048)
    server.sendto(data, peer)

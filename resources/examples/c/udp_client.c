/* UDP echo client: three datagrams, each echoed back.
 * Build: cc -Wall -o udp_client udp_client.c      Usage: ./udp_client [PORT] */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 5051;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval wait = {.tv_sec = 5};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    const char *messages[] = {"hello", "echo", "bye"};
    for (int i = 0; i < 3; i++) {
        char buf[2048];
        sendto(sock, messages[i], strlen(messages[i]), 0, (struct sockaddr *)&addr, sizeof addr);
        ssize_t n = recvfrom(sock, buf, sizeof buf - 1, 0, NULL, NULL);
        if (n < 0) {
            perror("recvfrom");
            return 1;
        }
        buf[n] = '\0';
        puts(buf);
    }
    close(sock);
    return 0;
}

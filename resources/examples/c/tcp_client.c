/* TCP echo client: three messages, each echoed back.
 * Build: cc -Wall -o tcp_client tcp_client.c      Usage: ./tcp_client [PORT] */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 5050;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("connect");
        return 1;
    }
    const char *messages[] = {"hello", "echo", "bye"};
    for (int i = 0; i < 3; i++) {
        char buf[4096];
        write(sock, messages[i], strlen(messages[i]));
        ssize_t n = read(sock, buf, sizeof buf - 1);
        if (n <= 0)
            return 1;
        buf[n] = '\0';
        puts(buf);
    }
    close(sock);
    return 0;
}

/* TCP echo server: sends back every byte it receives.
 * Build: cc -Wall -o tcp_server tcp_server.c      Usage: ./tcp_server [PORT] */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 5050, one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    int server = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(server, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(server, 5) < 0) {
        perror("bind/listen");
        return 1;
    }
    for (;;) {
        int conn = accept(server, NULL, NULL);
        char buf[4096];
        ssize_t n;
        while ((n = read(conn, buf, sizeof buf)) > 0)   /* 0: the client closed */
            write(conn, buf, n);
        close(conn);
    }
}

/*
 * kink_inject: send hostile or replayed KINK datagrams to a running kinkd,
 * for the refusal tests.
 *
 *   kink_inject extract PCAP SRC DST PORT N OUT
 *       write the payload of the Nth (1-based) UDP datagram from SRC to
 *       DST:PORT in the tcpdump capture PCAP (linktype Ethernet or Linux
 *       cooked, IPv4) to OUT
 *   kink_inject send FILE SRC DST PORT [flip OFFSET]
 *       send FILE's bytes as one datagram from SRC (any port) to DST:PORT,
 *       with the octet at OFFSET inverted when flip is given
 *   kink_inject garbage SRC DST PORT COUNT SEED
 *       send COUNT datagrams of pseudo-random length and content (some
 *       starting with a plausible KINK header) from SRC to DST:PORT
 *   kink_inject proxy ADDR PORT X Y DROP_ACKS SECONDS
 *       relay datagrams between X:PORT and Y:PORT through ADDR:PORT (each
 *       side configures the other at ADDR) for SECONDS, dropping the first
 *       DROP_ACKS KINK ACK messages (Type 5) and printing one line per
 *       datagram ("X>Y type 1 len 300", "... dropped") to stdout
 *
 * Exit status 0 on success, 1 on errors (with a message).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int
die(const char *msg)
{
    fprintf(stderr, "kink_inject: %s\n", msg);
    return 1;
}

static uint32_t
rd32(const unsigned char *p, int swap)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
        (uint32_t)p[3] << 24;
    if (swap)
        v = (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) |
            (v << 24);
    return v;
}

static int
extract(const char *pcap, const char *src, const char *dst, int port, int n,
        const char *out)
{
    FILE *f = fopen(pcap, "rb"), *o;
    unsigned char gh[24], rh[16], *pkt = NULL;
    struct in_addr s, d;
    int swap, seen = 0;
    uint32_t link;

    if (f == NULL)
        return die("cannot open the capture");
    if (inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &d) != 1)
        return die("bad address");
    if (fread(gh, 1, 24, f) != 24)
        return die("short capture header");
    if (rd32(gh, 0) == 0xa1b2c3d4 || rd32(gh, 0) == 0xa1b23c4d)
        swap = 0;
    else if (rd32(gh, 1) == 0xa1b2c3d4 || rd32(gh, 1) == 0xa1b23c4d)
        swap = 1;
    else
        return die("not a pcap file");
    link = rd32(gh + 20, swap);
    while (fread(rh, 1, 16, f) == 16) {
        uint32_t cap = rd32(rh + 8, swap);
        size_t off, ihl;
        if (cap > 262144)
            return die("bad record length");
        free(pkt);
        pkt = malloc(cap ? cap : 1);
        if (pkt == NULL || fread(pkt, 1, cap, f) != cap)
            return die("truncated capture");
        if (link == 1)              /* Ethernet */
            off = 14;
        else if (link == 113)       /* Linux cooked (any) */
            off = 16;
        else if (link == 0)         /* BSD loopback */
            off = 4;
        else
            return die("unsupported link type");
        if (cap < off + 28 || (pkt[off] >> 4) != 4 || pkt[off + 9] != 17)
            continue;
        ihl = (size_t)(pkt[off] & 15) * 4;
        if (ihl < 20 || cap < off + ihl + 8)
            continue;
        if (memcmp(pkt + off + 12, &s, 4) != 0 ||
            memcmp(pkt + off + 16, &d, 4) != 0 ||
            ((pkt[off + ihl + 2] << 8) | pkt[off + ihl + 3]) != port)
            continue;
        if (++seen == n) {
            size_t ulen = (pkt[off + ihl + 4] << 8) | pkt[off + ihl + 5];
            if (ulen < 8 || off + ihl + ulen > cap)
                return die("truncated datagram in the capture");
            o = fopen(out, "wb");
            if (o == NULL ||
                fwrite(pkt + off + ihl + 8, 1, ulen - 8, o) != ulen - 8 ||
                fclose(o) != 0)
                return die("cannot write the output");
            free(pkt);
            fclose(f);
            return 0;
        }
    }
    free(pkt);
    fclose(f);
    fprintf(stderr, "kink_inject: only %d matching datagrams\n", seen);
    return 1;
}

static int
send_bytes(const char *src, const char *dst, int port,
           const unsigned char *buf, size_t len)
{
    struct sockaddr_in s, d;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    memset(&s, 0, sizeof(s));
    memset(&d, 0, sizeof(d));
    s.sin_family = d.sin_family = AF_INET;
    d.sin_port = htons((uint16_t)port);
    if (fd < 0 || inet_pton(AF_INET, src, &s.sin_addr) != 1 ||
        inet_pton(AF_INET, dst, &d.sin_addr) != 1)
        return die("socket or address");
    if (bind(fd, (struct sockaddr *)&s, sizeof(s)) < 0)
        return die(strerror(errno));
    if (sendto(fd, buf, len, 0, (struct sockaddr *)&d, sizeof(d)) < 0)
        return die(strerror(errno));
    close(fd);
    return 0;
}

static int
proxy(const char *addr, int port, const char *xs, const char *ys,
      int drop_acks, int seconds)
{
    struct sockaddr_in me, x, y, from;
    socklen_t fl;
    unsigned char buf[65536];
    struct timeval tv = { 0, 100000 };
    time_t end = time(NULL) + seconds;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    memset(&me, 0, sizeof(me));
    me.sin_family = AF_INET;
    me.sin_port = htons((uint16_t)port);
    x = y = me;
    if (fd < 0 || inet_pton(AF_INET, addr, &me.sin_addr) != 1 ||
        inet_pton(AF_INET, xs, &x.sin_addr) != 1 ||
        inet_pton(AF_INET, ys, &y.sin_addr) != 1)
        return die("socket or address");
    if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0)
        return die(strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    while (time(NULL) < end) {
        ssize_t n;
        const struct sockaddr_in *to;
        fl = sizeof(from);
        n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        if (n <= 0)
            continue;
        if (from.sin_addr.s_addr == x.sin_addr.s_addr)
            to = &y;
        else if (from.sin_addr.s_addr == y.sin_addr.s_addr)
            to = &x;
        else
            continue;
        printf("%s type %u len %zd", to == &y ? "X>Y" : "Y>X", buf[0], n);
        if (buf[0] == 5 && drop_acks > 0) {
            drop_acks--;
            printf(" dropped\n");
            continue;
        }
        printf("\n");
        sendto(fd, buf, (size_t)n, 0, (const struct sockaddr *)to,
               sizeof(*to));
    }
    close(fd);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 8 && strcmp(argv[1], "proxy") == 0)
        return proxy(argv[2], atoi(argv[3]), argv[4], argv[5], atoi(argv[6]),
                     atoi(argv[7]));
    if (argc == 8 && strcmp(argv[1], "extract") == 0)
        return extract(argv[2], argv[3], argv[4], atoi(argv[5]),
                       atoi(argv[6]), argv[7]);
    if ((argc == 6 || argc == 8) && strcmp(argv[1], "send") == 0) {
        unsigned char buf[65536];
        size_t len;
        FILE *f = fopen(argv[2], "rb");
        if (f == NULL)
            return die("cannot open the datagram file");
        len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        if (argc == 8) {
            long off = atol(argv[7]);
            if (strcmp(argv[6], "flip") != 0 || off < 0 || (size_t)off >= len)
                return die("flip OFFSET outside the datagram");
            buf[off] ^= 0xff;
        }
        return send_bytes(argv[3], argv[4], atoi(argv[5]), buf, len);
    }
    if (argc == 7 && strcmp(argv[1], "garbage") == 0) {
        unsigned char buf[2048];
        int i, count = atoi(argv[5]);
        srand((unsigned int)atoi(argv[6]));
        for (i = 0; i < count; i++) {
            size_t len = (size_t)(rand() % (int)sizeof(buf)), j;
            for (j = 0; j < len; j++)
                buf[j] = (unsigned char)rand();
            if (len >= 16 && i % 2 == 0) {
                /* A plausible header: type CREATE..STATUS, version 1,
                 * Length = len, DOI 1, so the payload parser is reached. */
                buf[0] = (unsigned char)(1 + i % 6);
                buf[1] = 0x10;
                buf[2] = (unsigned char)(len >> 8);
                buf[3] = (unsigned char)len;
                buf[4] = buf[5] = buf[6] = 0;
                buf[7] = 1;
            }
            if (send_bytes(argv[2], argv[3], atoi(argv[4]), buf, len) != 0)
                return 1;
        }
        return 0;
    }
    fprintf(stderr, "usage: kink_inject extract PCAP SRC DST PORT N OUT\n"
            "       kink_inject send FILE SRC DST PORT [flip OFFSET]\n"
            "       kink_inject garbage SRC DST PORT COUNT SEED\n"
            "       kink_inject proxy ADDR PORT X Y DROP_ACKS SECONDS\n");
    return 2;
}

/*
 * The TCP transport of a communicator: the rendezvous, and collectives on
 * host memory. Rank 0 is the hub: every other rank has one connection, to
 * it. A collective is one request from every rank (a header saying which
 * call, with what sizes, and the data it contributes) read by the hub in
 * rank order, then one reply to every rank. Sums are made by the hub in
 * rank order (rank 0's data, plus rank 1's, plus ...), so every rank gets
 * the same bits, and the same bits run after run, whatever the timing.
 * Each direction of a collective is one-way at a time (requests, then
 * replies), so no two processes can both block on a full socket.
 *
 * The hub compares every request with its own call; a rank that called
 * something else gets an error reply and the whole collective fails on
 * every rank. Any failure (a closed connection, a timeout, a mismatch)
 * closes the connections, so that the other ranks fail at once rather than
 * at their timeout. Data go as raw bytes: all machines of one run must
 * share the byte order (every machine CUDA runs on does).
 */
#include "comm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_MAGIC 0x434b4c52u /* "RLKC" */
#define HELLO_MAGIC 0x484b4c52u   /* "RLKH" */
#define PROTOCOL_VERSION 1u

/* The hub reads a rank's contribution to a sum this much at a time. */
#define CHUNK_BYTES ((size_t)1 << 20)
/* A connection must say who it is within this time (a stray connection,
 * such as a port scan, must not hold up the rendezvous). */
#define HELLO_TIMEOUT_MS 5000
/* Between attempts to read the rendezvous file or reach rank 0. */
#define RETRY_NS 20000000L

/* What a request or reply carries: which call, and its sizes. */
enum { CALL_ALL_REDUCE = 1, CALL_BROADCAST = 2, CALL_BARRIER = 3 };
#define HEADER_BYTES 40

typedef struct header {
    uint32_t magic;
    uint32_t call;
    int32_t status;  /* replies: RLKD_OK or why the hub stopped */
    int32_t root;    /* broadcast */
    uint64_t seq;    /* the communicator's count of collectives */
    uint64_t bytes;  /* the data's size */
    uint32_t dtype, reduce;
} header;

/* The answer to a rank's hello. */
enum { HELLO_WELCOME = 0, HELLO_STALE = 1, HELLO_BAD_WORLD = 2,
       HELLO_BAD_RANK = 3 };
#define HELLO_BYTES 24

struct rlkd_tcp {
    int rank, world_size;
    /* the hub: fds[r] talks to rank r (fds[0] unused); the others: fds[0]
     * talks to the hub. -1 once closed. */
    int *fds;
    uint64_t seq;
    unsigned char *scratch; /* the hub: CHUNK_BYTES of a rank's data */
};

/* ------------------------------------------------------------------------ */
/* Bytes on the wire: little-endian integers                                 */
/* ------------------------------------------------------------------------ */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void encode_header(const header *h, unsigned char *p)
{
    put32(p, h->magic);
    put32(p + 4, h->call);
    put32(p + 8, (uint32_t)h->status);
    put32(p + 12, (uint32_t)h->root);
    put64(p + 16, h->seq);
    put64(p + 24, h->bytes);
    put32(p + 32, h->dtype);
    put32(p + 36, h->reduce);
}

static void decode_header(const unsigned char *p, header *h)
{
    h->magic = get32(p);
    h->call = get32(p + 4);
    h->status = (int32_t)get32(p + 8);
    h->root = (int32_t)get32(p + 12);
    h->seq = get64(p + 16);
    h->bytes = get64(p + 24);
    h->dtype = get32(p + 32);
    h->reduce = get32(p + 36);
}

static const char *dtype_name(uint32_t dtype)
{
    static const char *const names[] = {"f32", "f64", "i32", "i64"};
    return dtype < 4 ? names[dtype] : "?";
}

/* "all_reduce (sum) of 40 bytes of f32, call 7" and the like. */
static void describe(const header *h, char *text, size_t size)
{
    switch (h->call) {
    case CALL_ALL_REDUCE:
        snprintf(text, size, "all_reduce (%s) of %" PRIu64 " bytes of %s, "
                 "call %" PRIu64, h->reduce == RLKD_REDUCE_MEAN ? "mean"
                                                               : "sum",
                 h->bytes, dtype_name(h->dtype), h->seq);
        return;
    case CALL_BROADCAST:
        snprintf(text, size, "broadcast of %" PRIu64 " bytes from rank %d, "
                 "call %" PRIu64, h->bytes, (int)h->root, h->seq);
        return;
    case CALL_BARRIER:
        snprintf(text, size, "barrier, call %" PRIu64, h->seq);
        return;
    }
    snprintf(text, size, "an unknown call %u", (unsigned)h->call);
}

static int same_call(const header *a, const header *b)
{
    return a->call == b->call && a->seq == b->seq && a->bytes == b->bytes &&
           a->dtype == b->dtype && a->reduce == b->reduce &&
           a->root == b->root;
}

/* ------------------------------------------------------------------------ */
/* Sockets with a deadline                                                   */
/* ------------------------------------------------------------------------ */

typedef enum io_result { IO_OK, IO_TIMEOUT, IO_CLOSED, IO_ERROR } io_result;

static double now_ms(void)
{
    return rlkd_seconds_now() * 1000.0;
}

static double deadline_in(int timeout_ms)
{
    return now_ms() + timeout_ms;
}

/* Waits for `events` on fd until the deadline: 1 ready, 0 timed out, -1
 * error (errno). */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        const double left = deadline - now_ms();
        if (left <= 0.0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        const int ready = poll(&p, 1, (int)ceil(left));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready != 0)
            return ready > 0 ? 1 : -1;
    }
}

static io_result send_all(int fd, const void *data, size_t size,
                          double deadline, int *error)
{
    const unsigned char *p = data;
    while (size > 0) {
        /* MSG_NOSIGNAL: a closed peer is EPIPE here, not SIGPIPE. */
        const ssize_t sent = send(fd, p, size, MSG_NOSIGNAL);
        if (sent > 0) {
            p += sent;
            size -= (size_t)sent;
            continue;
        }
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            const int ready = wait_fd(fd, POLLOUT, deadline);
            if (ready == 0)
                return IO_TIMEOUT;
            if (ready < 0) {
                *error = errno;
                return IO_ERROR;
            }
            continue;
        }
        if (sent < 0 && (errno == EPIPE || errno == ECONNRESET))
            return IO_CLOSED;
        *error = sent < 0 ? errno : EIO;
        return IO_ERROR;
    }
    return IO_OK;
}

static io_result recv_all(int fd, void *data, size_t size, double deadline,
                          int *error)
{
    unsigned char *p = data;
    while (size > 0) {
        const ssize_t got = recv(fd, p, size, 0);
        if (got > 0) {
            p += got;
            size -= (size_t)got;
            continue;
        }
        if (got == 0)
            return IO_CLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            const int ready = wait_fd(fd, POLLIN, deadline);
            if (ready == 0)
                return IO_TIMEOUT;
            if (ready < 0) {
                *error = errno;
                return IO_ERROR;
            }
            continue;
        }
        if (errno == ECONNRESET)
            return IO_CLOSED;
        *error = errno;
        return IO_ERROR;
    }
    return IO_OK;
}

/* Non-blocking, no Nagle delay (collectives are request-reply), closed on
 * exec. */
static void tune_socket(int fd)
{
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        shutdown(*fd, SHUT_RDWR);
        close(*fd);
    }
    *fd = -1;
}

/* Closes every connection: the other ranks see it at once. */
static void close_all(rlkd_tcp *tcp)
{
    for (int r = 0; r < tcp->world_size; r++)
        close_fd(&tcp->fds[r]);
}

void rlkd_tcp_close(rlkd_tcp *tcp)
{
    if (!tcp)
        return;
    close_all(tcp);
    free(tcp->fds);
    free(tcp->scratch);
    free(tcp);
}

/* A failed exchange with rank `peer` while doing `what`. */
static rlkd_status io_failure(const char *op, io_result result, int error,
                              int peer, const char *what, int timeout_ms)
{
    switch (result) {
    case IO_TIMEOUT:
        return rlkd_fail(RLKD_ERR_IO,
                         "%s: timed out after %d ms waiting for rank %d in "
                         "the %s (it failed, exited or is slower than the "
                         "timeout)", op, timeout_ms, peer, what);
    case IO_CLOSED:
        return rlkd_fail(RLKD_ERR_IO,
                         "%s: rank %d closed the connection during the %s "
                         "(it exited or failed: its own message says why)",
                         op, peer, what);
    default:
        return rlkd_fail(RLKD_ERR_IO, "%s: the connection to rank %d failed "
                         "during the %s: %s", op, peer, what,
                         strerror(error));
    }
}

/* ------------------------------------------------------------------------ */
/* Rendezvous                                                                */
/* ------------------------------------------------------------------------ */

/* Where the ranks meet: "HOST:PORT" (no '/', digits after the last ':')
 * or a file path. */
typedef struct meeting {
    int is_address;
    char host[256];
    char port[16];
    const char *path;
} meeting;

static int parse_meeting(const char *text, meeting *m)
{
    memset(m, 0, sizeof *m);
    const char *colon = strrchr(text, ':');
    const size_t digits = colon ? strspn(colon + 1, "0123456789") : 0;
    if (strchr(text, '/') || !colon || digits == 0 ||
        colon[1 + digits] != '\0' || digits >= sizeof m->port) {
        m->path = text;
        return 1;
    }
    size_t host_length = (size_t)(colon - text);
    const char *host = text;
    /* "[::1]:29500": an IPv6 address in brackets */
    if (host_length >= 2 && host[0] == '[' && host[host_length - 1] == ']') {
        host++;
        host_length -= 2;
    }
    if (host_length == 0 || host_length >= sizeof m->host ||
        atol(colon + 1) > 65535)
        return 0;
    memcpy(m->host, host, host_length);
    memcpy(m->port, colon + 1, digits);
    m->is_address = 1;
    return 1;
}

/* A token from the kernel's random pool (or the clock and the process):
 * rank 0 writes it with its address, and a rank that read an older run's
 * file is told so by the hub it reaches. */
static uint64_t make_token(void)
{
    uint64_t token = 0;
    const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &token, sizeof token) != (ssize_t)sizeof token)
            token = 0;
        close(fd);
    }
    if (token == 0)
        token = (uint64_t)(rlkd_seconds_now() * 1e9) ^
                ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    return token;
}

static void encode_hello(unsigned char *p, uint32_t code, int rank,
                         int world_size, uint64_t token)
{
    put32(p, HELLO_MAGIC);
    put32(p + 4, code);
    put32(p + 8, (uint32_t)rank);
    put32(p + 12, (uint32_t)world_size);
    put64(p + 16, token);
}

/* The hub's listening socket: on the port of an address rendezvous, else
 * on a port the system picks (*port receives it). */
static rlkd_status listen_socket(const char *op, const meeting *m, int backlog,
                                 int *fd_out, int *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *list = NULL;
    const int gai = getaddrinfo(NULL, m->is_address ? m->port : "0", &hints,
                                &list);
    if (gai != 0)
        return rlkd_fail(RLKD_ERR_IO, "%s: rank 0 cannot pick an address to "
                         "listen on: %s", op, gai_strerror(gai));
    int fd = -1, error = 0;
    for (const struct addrinfo *a = list; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            error = errno;
            continue;
        }
        /* A fixed port comes free at once after the previous run; an IPv6
         * socket takes IPv4 peers too, whatever the system's default. */
        const int on = 1, off = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (a->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 ||
            listen(fd, backlog) != 0) {
            error = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(list);
    if (fd < 0)
        return rlkd_fail(RLKD_ERR_IO, "%s: rank 0 cannot listen on port %s: "
                         "%s", op, m->is_address ? m->port : "(any)",
                         strerror(error));
    struct sockaddr_storage bound;
    socklen_t length = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &length);
    *port = ntohs(bound.ss_family == AF_INET6
                      ? ((struct sockaddr_in6 *)&bound)->sin6_port
                      : ((struct sockaddr_in *)&bound)->sin_port);
    tune_socket(fd);
    *fd_out = fd;
    return RLKD_OK;
}

/* Rank 0: the file names this host, the port and the run's token. */
static rlkd_status write_meeting_file(const char *op, const char *path,
                                      int port, uint64_t token)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        return rlkd_fail(RLKD_ERR_IO, "%s: gethostname failed: %s", op,
                         strerror(errno));
    host[sizeof host - 1] = '\0';
    char text[384];
    const int length = snprintf(text, sizeof text,
                                "rlkd-rendezvous %u %s %d %" PRIu64 "\n",
                                PROTOCOL_VERSION, host, port, token);
    const rlkd_status status =
        rlkd_file_write_text_atomic(path, text, (size_t)length);
    if (status == RLKD_OK)
        return RLKD_OK;
    char reason[512];
    snprintf(reason, sizeof reason, "%s", rlkd_last_error());
    return rlkd_fail(status, "%s: rank 0 cannot write the rendezvous file: "
                     "%s", op, reason);
}

/* The hub answers one new connection: 1 a rank joined (fds[rank] set),
 * 0 a stray or stale connection (closed, keep waiting), or a failure. */
static rlkd_status admit(const char *op, rlkd_tcp *tcp, int fd, uint64_t token,
                         double deadline, int *joined)
{
    *joined = 0;
    tune_socket(fd);
    unsigned char hello[HELLO_BYTES];
    const double hello_deadline = now_ms() + HELLO_TIMEOUT_MS < deadline
                                      ? now_ms() + HELLO_TIMEOUT_MS
                                      : deadline;
    int error = 0;
    if (recv_all(fd, hello, sizeof hello, hello_deadline, &error) != IO_OK ||
        get32(hello) != HELLO_MAGIC || get32(hello + 4) != PROTOCOL_VERSION) {
        close_fd(&fd);
        return RLKD_OK;
    }
    const int rank = (int)get32(hello + 8);
    const int world = (int)get32(hello + 12);
    uint32_t code = HELLO_WELCOME;
    if (get64(hello + 16) != token)
        code = HELLO_STALE;
    else if (world != tcp->world_size)
        code = HELLO_BAD_WORLD;
    else if (rank < 1 || rank >= tcp->world_size || tcp->fds[rank] >= 0)
        code = HELLO_BAD_RANK;
    if (code == HELLO_WELCOME) {
        tcp->fds[rank] = fd;
        *joined = 1;
        return RLKD_OK;
    }
    unsigned char answer[HELLO_BYTES];
    encode_hello(answer, code, 0, tcp->world_size, token);
    send_all(fd, answer, sizeof answer, now_ms() + 1000.0, &error);
    close_fd(&fd);
    if (code == HELLO_STALE)
        return RLKD_OK;
    if (code == HELLO_BAD_WORLD)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: rank %d was started with world size %d, rank 0 "
                         "with %d", op, rank, world, tcp->world_size);
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                     "%s: a process joined as rank %d, which is %s (world "
                     "size %d)", op, rank,
                     rank >= 1 && rank < tcp->world_size ? "taken already"
                                                         : "out of range",
                     tcp->world_size);
}

/* Rank 0: waits for every other rank, then welcomes them all. */
static rlkd_status host_rendezvous(const char *op, rlkd_tcp *tcp,
                                   const meeting *m, int timeout_ms)
{
    const double deadline = deadline_in(timeout_ms);
    int listener = -1, port = 0;
    RLKD_TRY(listen_socket(op, m, tcp->world_size, &listener, &port));
    const uint64_t token = m->is_address ? 0 : make_token();
    rlkd_status status =
        m->is_address ? RLKD_OK : write_meeting_file(op, m->path, port, token);
    int arrived = 1;
    while (status == RLKD_OK && arrived < tcp->world_size) {
        const int ready = wait_fd(listener, POLLIN, deadline);
        if (ready <= 0) {
            char missing[256] = "";
            size_t used = 0;
            for (int r = 1; r < tcp->world_size && used + 16 < sizeof missing;
                 r++)
                if (tcp->fds[r] < 0)
                    used += (size_t)snprintf(missing + used,
                                             sizeof missing - used, "%s%d",
                                             used ? ", " : "", r);
            status = ready == 0
                         ? rlkd_fail(RLKD_ERR_IO,
                                     "%s: timed out after %d ms waiting for "
                                     "the other ranks at %s: %d of %d "
                                     "arrived (missing: %s)", op, timeout_ms,
                                     m->is_address ? "the address"
                                                   : m->path,
                                     arrived, tcp->world_size, missing)
                         : rlkd_fail(RLKD_ERR_IO, "%s: waiting for the other "
                                     "ranks failed: %s", op, strerror(errno));
            break;
        }
        const int fd = accept(listener, NULL, NULL);
        if (fd < 0)
            continue; /* the connection went away already; keep waiting */
        int joined;
        status = admit(op, tcp, fd, token, deadline, &joined);
        arrived += joined;
    }
    close_fd(&listener);
    /* Every rank has read the file once it is here (or the run failed):
     * no later run can mistake it for its own. */
    if (!m->is_address)
        unlink(m->path);
    unsigned char welcome[HELLO_BYTES];
    encode_hello(welcome, HELLO_WELCOME, 0, tcp->world_size, token);
    for (int r = 1; status == RLKD_OK && r < tcp->world_size; r++) {
        int error = 0;
        const io_result result =
            send_all(tcp->fds[r], welcome, sizeof welcome, deadline, &error);
        if (result != IO_OK)
            status = io_failure(op, result, error, r, "rendezvous",
                                timeout_ms);
    }
    return status;
}

/* A rank's view of the rendezvous file: 1 read, 0 not there (yet). */
static rlkd_status read_meeting_file(const char *op, const char *path,
                                     meeting *m, uint64_t *token, int *found)
{
    *found = 0;
    FILE *file = fopen(path, "r");
    if (!file) {
        if (errno == ENOENT)
            return RLKD_OK;
        return rlkd_fail(RLKD_ERR_IO, "%s: cannot read the rendezvous file "
                         "%s: %s", op, path, strerror(errno));
    }
    unsigned version = 0;
    int port = 0;
    const int fields = fscanf(file, "rlkd-rendezvous %u %255s %d %" SCNu64,
                              &version, m->host, &port, token);
    fclose(file);
    if (fields != 4 || version != PROTOCOL_VERSION || port < 1 ||
        port > 65535)
        return rlkd_fail(RLKD_ERR_FORMAT, "%s: the rendezvous file %s is not "
                         "one rank 0 of this rlkd version writes", op, path);
    snprintf(m->port, sizeof m->port, "%d", port);
    *found = 1;
    return RLKD_OK;
}

/* A connection to host:port, or -1 with *error (ECONNREFUSED while rank 0
 * is not listening yet). */
static int connect_to(const meeting *m, double deadline, int *error,
                      char *why, size_t why_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    const int gai = getaddrinfo(m->host, m->port, &hints, &list);
    if (gai != 0) {
        snprintf(why, why_size, "cannot resolve %s: %s", m->host,
                 gai_strerror(gai));
        *error = 0;
        return -1;
    }
    int fd = -1;
    for (const struct addrinfo *a = list; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            *error = errno;
            continue;
        }
        tune_socket(fd);
        int result = connect(fd, a->ai_addr, a->ai_addrlen);
        if (result != 0 && errno == EINPROGRESS) {
            const int ready = wait_fd(fd, POLLOUT, deadline);
            socklen_t length = sizeof *error;
            if (ready > 0 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, error, &length) == 0)
                result = *error == 0 ? 0 : -1;
            else
                *error = ready == 0 ? ETIMEDOUT : errno;
        } else if (result != 0) {
            *error = errno;
        }
        if (result != 0)
            close_fd(&fd);
    }
    freeaddrinfo(list);
    if (fd < 0)
        snprintf(why, why_size, "cannot connect to %s port %s: %s", m->host,
                 m->port, strerror(*error));
    return fd;
}

static void pause_briefly(void)
{
    const struct timespec wait = {0, RETRY_NS};
    nanosleep(&wait, NULL);
}

/* A rank other than 0: finds rank 0 (retrying while it is not there yet),
 * says who it is, and waits for the welcome. */
static rlkd_status join_rendezvous(const char *op, rlkd_tcp *tcp,
                                   const meeting *given, int timeout_ms)
{
    const double deadline = deadline_in(timeout_ms);
    char why[384] = "no attempt finished";
    for (;;) {
        if (now_ms() >= deadline)
            return rlkd_fail(RLKD_ERR_IO,
                             "%s: rank %d timed out after %d ms looking for "
                             "rank 0 (%s%s): %s", op, tcp->rank, timeout_ms,
                             given->is_address ? "at " : "rendezvous file ",
                             given->is_address ? given->host : given->path,
                             why);
        meeting m = *given;
        uint64_t token = 0;
        if (!given->is_address) {
            int found;
            RLKD_TRY(read_meeting_file(op, given->path, &m, &token, &found));
            if (!found) {
                snprintf(why, sizeof why, "the file is not there yet");
                pause_briefly();
                continue;
            }
        }
        int error = 0;
        int fd = connect_to(&m, deadline, &error, why, sizeof why);
        if (fd < 0) {
            pause_briefly();
            continue;
        }
        /* A hello carries the protocol version where an answer carries
         * its code. */
        unsigned char hello[HELLO_BYTES];
        encode_hello(hello, PROTOCOL_VERSION, tcp->rank, tcp->world_size,
                     token);
        io_result result = send_all(fd, hello, sizeof hello, deadline, &error);
        if (result == IO_OK)
            result = recv_all(fd, hello, sizeof hello, deadline, &error);
        if (result != IO_OK) {
            close_fd(&fd);
            return io_failure(op, result, error, 0, "rendezvous", timeout_ms);
        }
        const uint32_t code = get32(hello + 4);
        if (get32(hello) == HELLO_MAGIC && code == HELLO_WELCOME) {
            tcp->fds[0] = fd;
            return RLKD_OK;
        }
        close_fd(&fd);
        if (get32(hello) == HELLO_MAGIC && code == HELLO_STALE) {
            /* An earlier run's file: wait for this run's rank 0 to
             * replace it. */
            snprintf(why, sizeof why, "the file is an earlier run's");
            pause_briefly();
            continue;
        }
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: rank 0 refused rank %d: %s", op, tcp->rank,
                         code == HELLO_BAD_WORLD
                             ? "it has another world size"
                             : code == HELLO_BAD_RANK
                                   ? "another process joined with this rank"
                                   : "it does not speak this protocol");
    }
}

rlkd_status rlkd_tcp_connect(const char *op, const char *rendezvous, int rank,
                             int world_size, int timeout_ms, rlkd_tcp **out)
{
    meeting m;
    if (!parse_meeting(rendezvous, &m))
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: rendezvous \"%s\" is neither a file path nor "
                         "HOST:PORT with a port in 1..65535", op, rendezvous);
    rlkd_tcp *tcp = calloc(1, sizeof *tcp);
    if (tcp)
        tcp->fds = malloc((size_t)world_size * sizeof *tcp->fds);
    if (tcp && tcp->fds && rank == 0)
        tcp->scratch = malloc(CHUNK_BYTES);
    if (!tcp || !tcp->fds || (rank == 0 && !tcp->scratch)) {
        if (tcp)
            free(tcp->fds);
        free(tcp);
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    }
    tcp->rank = rank;
    tcp->world_size = world_size;
    for (int r = 0; r < world_size; r++)
        tcp->fds[r] = -1;
    const rlkd_status status =
        rank == 0 ? host_rendezvous(op, tcp, &m, timeout_ms)
                  : join_rendezvous(op, tcp, &m, timeout_ms);
    if (status != RLKD_OK) {
        rlkd_tcp_close(tcp);
        return status;
    }
    *out = tcp;
    return RLKD_OK;
}

/* ------------------------------------------------------------------------ */
/* Collectives                                                               */
/* ------------------------------------------------------------------------ */

/* acc += x, n elements of dtype. */
static void add_into(void *acc, const void *x, size_t n, uint32_t dtype)
{
    switch (dtype) {
    case RLKD_COMM_F32: {
        float *a = acc;
        const float *b = x;
        for (size_t i = 0; i < n; i++)
            a[i] += b[i];
        return;
    }
    case RLKD_COMM_F64: {
        double *a = acc;
        const double *b = x;
        for (size_t i = 0; i < n; i++)
            a[i] += b[i];
        return;
    }
    case RLKD_COMM_I32: {
        int32_t *a = acc;
        const int32_t *b = x;
        for (size_t i = 0; i < n; i++)
            a[i] = (int32_t)((uint32_t)a[i] + (uint32_t)b[i]);
        return;
    }
    default: {
        int64_t *a = acc;
        const int64_t *b = x;
        for (size_t i = 0; i < n; i++)
            a[i] = (int64_t)((uint64_t)a[i] + (uint64_t)b[i]);
        return;
    }
    }
}

static void divide(void *acc, size_t n, uint32_t dtype, int by)
{
    if (dtype == RLKD_COMM_F32) {
        float *a = acc;
        for (size_t i = 0; i < n; i++)
            a[i] /= (float)by;
    } else {
        double *a = acc;
        for (size_t i = 0; i < n; i++)
            a[i] /= (double)by;
    }
}

/* The hub stops a collective: a best-effort error reply to every rank
 * (small, so it fits their socket buffers), then every connection closes. */
static void hub_abort(rlkd_tcp *tcp, const header *mine, rlkd_status status)
{
    header reply = *mine;
    reply.status = (int32_t)status;
    unsigned char bytes[HEADER_BYTES];
    encode_header(&reply, bytes);
    for (int r = 1; r < tcp->world_size; r++) {
        int error;
        if (tcp->fds[r] >= 0)
            send_all(tcp->fds[r], bytes, sizeof bytes, now_ms() + 100.0,
                     &error);
    }
    close_all(tcp);
}

/* The hub reads rank r's request header and checks it against its own. */
static rlkd_status hub_read_request(rlkd_tcp *tcp, const char *op,
                                    const header *mine, int r,
                                    double deadline, int timeout_ms)
{
    unsigned char bytes[HEADER_BYTES];
    int error = 0;
    const io_result result =
        recv_all(tcp->fds[r], bytes, sizeof bytes, deadline, &error);
    if (result != IO_OK)
        return io_failure(op, result, error, r, "collective", timeout_ms);
    header theirs;
    decode_header(bytes, &theirs);
    if (theirs.magic == REQUEST_MAGIC && same_call(&theirs, mine))
        return RLKD_OK;
    char mine_text[160], theirs_text[160];
    describe(mine, mine_text, sizeof mine_text);
    describe(&theirs, theirs_text, sizeof theirs_text);
    return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                     "%s: the ranks called different collectives: rank 0 "
                     "%s, rank %d %s", op, mine_text, r,
                     theirs.magic == REQUEST_MAGIC ? theirs_text
                                                   : "sent garbage");
}

/* Rank r's share of a sum, read a chunk at a time and added in. */
static rlkd_status hub_add(rlkd_tcp *tcp, const char *op, int r,
                           void *const *buffers, const size_t *counts,
                           int count, uint32_t dtype, double deadline,
                           int timeout_ms)
{
    const size_t size = rlkd_comm_dtype_size((rlkd_comm_dtype)dtype);
    for (int i = 0; i < count; i++) {
        unsigned char *acc = buffers[i];
        for (size_t done = 0; done < counts[i];) {
            const size_t n = counts[i] - done < CHUNK_BYTES / size
                                 ? counts[i] - done
                                 : CHUNK_BYTES / size;
            int error = 0;
            const io_result result = recv_all(tcp->fds[r], tcp->scratch,
                                              n * size, deadline, &error);
            if (result != IO_OK)
                return io_failure(op, result, error, r, "all_reduce",
                                  timeout_ms);
            add_into(acc + done * size, tcp->scratch, n, dtype);
            done += n;
        }
    }
    return RLKD_OK;
}

/* Sends a header and then buffers (count may be 0). */
static io_result send_message(int fd, const header *h, void *const *buffers,
                              const size_t *bytes, int count, double deadline,
                              int *error)
{
    unsigned char head[HEADER_BYTES];
    encode_header(h, head);
    io_result result = send_all(fd, head, sizeof head, deadline, error);
    for (int i = 0; result == IO_OK && i < count; i++)
        result = send_all(fd, buffers[i], bytes[i], deadline, error);
    return result;
}

/* A rank other than 0: the hub's reply, which must be to this call; then
 * (when `count` > 0) the result into buffers. */
static rlkd_status peer_read_reply(rlkd_tcp *tcp, const char *op,
                                   const header *mine, void *const *buffers,
                                   const size_t *bytes, int count,
                                   double deadline, int timeout_ms)
{
    unsigned char head[HEADER_BYTES];
    int error = 0;
    char what[160];
    describe(mine, what, sizeof what);
    io_result result = recv_all(tcp->fds[0], head, sizeof head, deadline,
                                &error);
    if (result != IO_OK)
        return io_failure(op, result, error, 0, what, timeout_ms);
    header reply;
    decode_header(head, &reply);
    if (reply.magic != REQUEST_MAGIC)
        return rlkd_fail(RLKD_ERR_IO, "%s: rank 0 sent garbage in reply to "
                         "the %s", op, what);
    if (reply.status != RLKD_OK || !same_call(&reply, mine)) {
        char theirs[160];
        describe(&reply, theirs, sizeof theirs);
        if (reply.status == RLKD_ERR_INVALID_ARGUMENT || reply.status == 0)
            return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                             "%s: the ranks called different collectives: "
                             "rank %d %s, rank 0 %s", op, tcp->rank, what,
                             theirs);
        return rlkd_fail(RLKD_ERR_IO, "%s: rank 0 stopped the %s: another "
                         "rank failed or did not come (rank 0's message "
                         "says which)", op, what);
    }
    for (int i = 0; result == IO_OK && i < count; i++)
        result = recv_all(tcp->fds[0], buffers[i], bytes[i], deadline, &error);
    if (result != IO_OK)
        return io_failure(op, result, error, 0, what, timeout_ms);
    return RLKD_OK;
}

/* The end of a collective: a failure closes the connections (the hub tells
 * the others why first), so no rank waits for this one in vain. */
static rlkd_status finish(rlkd_tcp *tcp, const header *mine,
                          rlkd_status status)
{
    if (status != RLKD_OK) {
        if (tcp->rank == 0)
            hub_abort(tcp, mine, status);
        else
            close_all(tcp);
    }
    return status;
}

/* An all-reduce, or (call CALL_BARRIER, no buffers) a barrier. */
static rlkd_status reduce_call(rlkd_tcp *tcp, const char *op, uint32_t call,
                               void *const *buffers, const size_t *counts,
                               int count, rlkd_comm_dtype dtype,
                               rlkd_reduce_op reduce, int timeout_ms)
{
    const double deadline = deadline_in(timeout_ms);
    const size_t size = rlkd_comm_dtype_size(dtype);
    size_t bytes[count > 0 ? count : 1];
    header mine = {.magic = REQUEST_MAGIC, .call = call,
                   .seq = tcp->seq++, .dtype = (uint32_t)dtype,
                   .reduce = (uint32_t)reduce};
    for (int i = 0; i < count; i++) {
        bytes[i] = counts[i] * size;
        mine.bytes += bytes[i];
    }
    rlkd_status status = RLKD_OK;
    if (tcp->rank != 0) {
        int error = 0;
        const io_result result = send_message(tcp->fds[0], &mine, buffers,
                                              bytes, count, deadline, &error);
        status = result == IO_OK
                     ? peer_read_reply(tcp, op, &mine, buffers, bytes, count,
                                       deadline, timeout_ms)
                     : io_failure(op, result, error, 0, "collective",
                                  timeout_ms);
        return finish(tcp, &mine, status);
    }
    for (int r = 1; status == RLKD_OK && r < tcp->world_size; r++) {
        status = hub_read_request(tcp, op, &mine, r, deadline, timeout_ms);
        if (status == RLKD_OK)
            status = hub_add(tcp, op, r, buffers, counts, count, mine.dtype,
                             deadline, timeout_ms);
    }
    if (status == RLKD_OK && reduce == RLKD_REDUCE_MEAN)
        for (int i = 0; i < count; i++)
            divide(buffers[i], counts[i], mine.dtype, tcp->world_size);
    for (int r = 1; status == RLKD_OK && r < tcp->world_size; r++) {
        int error = 0;
        const io_result result = send_message(tcp->fds[r], &mine, buffers,
                                              bytes, count, deadline, &error);
        if (result != IO_OK)
            status = io_failure(op, result, error, r, "collective",
                                timeout_ms);
    }
    return finish(tcp, &mine, status);
}

rlkd_status rlkd_tcp_all_reduce(rlkd_tcp *tcp, const char *op,
                                void *const *buffers, const size_t *counts,
                                int count, rlkd_comm_dtype dtype,
                                rlkd_reduce_op reduce, int timeout_ms)
{
    return reduce_call(tcp, op, CALL_ALL_REDUCE, buffers, counts, count,
                       dtype, reduce, timeout_ms);
}

rlkd_status rlkd_tcp_broadcast(rlkd_tcp *tcp, const char *op, void *data,
                               size_t bytes, int root, int timeout_ms)
{
    const double deadline = deadline_in(timeout_ms);
    header mine = {.magic = REQUEST_MAGIC, .call = CALL_BROADCAST,
                   .seq = tcp->seq++, .bytes = bytes, .root = root};
    void *const buffers[1] = {data};
    rlkd_status status = RLKD_OK;
    int error = 0;
    if (tcp->rank != 0) {
        const int sending = tcp->rank == root;
        const io_result result =
            send_message(tcp->fds[0], &mine, buffers, &bytes, sending,
                         deadline, &error);
        status = result == IO_OK
                     ? peer_read_reply(tcp, op, &mine, buffers, &bytes,
                                       !sending, deadline, timeout_ms)
                     : io_failure(op, result, error, 0, "broadcast",
                                  timeout_ms);
        return finish(tcp, &mine, status);
    }
    for (int r = 1; status == RLKD_OK && r < tcp->world_size; r++) {
        status = hub_read_request(tcp, op, &mine, r, deadline, timeout_ms);
        if (status == RLKD_OK && r == root) {
            const io_result result =
                recv_all(tcp->fds[r], data, bytes, deadline, &error);
            if (result != IO_OK)
                status = io_failure(op, result, error, r, "broadcast",
                                    timeout_ms);
        }
    }
    for (int r = 1; status == RLKD_OK && r < tcp->world_size; r++) {
        const io_result result =
            send_message(tcp->fds[r], &mine, buffers, &bytes, r != root,
                         deadline, &error);
        if (result != IO_OK)
            status = io_failure(op, result, error, r, "broadcast",
                                timeout_ms);
    }
    return finish(tcp, &mine, status);
}

rlkd_status rlkd_tcp_barrier(rlkd_tcp *tcp, const char *op, int timeout_ms)
{
    return reduce_call(tcp, op, CALL_BARRIER, NULL, NULL, 0, RLKD_COMM_F32,
                       RLKD_REDUCE_SUM, timeout_ms);
}

/*
 * linkemu: the userspace half of the bench's emulated link. The router namespace routes packets
 * from each host into a TUN device; this program reads them, applies one-way delay, jitter, random
 * loss, duplication and reordering, and writes them back into the same TUN, whence the kernel
 * forwards them on (to the tbf bottleneck for A->B). A timer heap and ppoll() release each packet
 * at its due time.
 *
 * usage: linkemu <tun A->B> <tun B->A> <seed>
 * stdin, one command a line:
 *   set <ab|ba|both> key=value...   keys: delay_us jitter_us loss dup reorder reorder_us
 *                                   (loss, dup, reorder are probabilities 0..1)
 *   stats
 * stdout, JSON lines: {"type":"ready"}, {"type":"ok"}, {"type":"stats",...}, {"type":"error",...}
 * It exits when stdin closes.
 *
 * Jitter is uniform in [-jitter, +jitter] and never reorders (a packet is not released before the
 * one ahead of it); a reordered packet is held back reorder_us more and does not hold up the
 * others; a duplicate is a second copy released right after the original.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_PACKET 65536
#define MAX_QUEUED (1 << 16)
#define READS_PER_WAKE 256

struct params {
	int64_t delay_ns, jitter_ns, reorder_ns;
	double loss, dup, reorder;
};

struct counters {
	uint64_t in, out, lost, duplicated, reordered, overflow, write_errors, late_1ms;
	int64_t late_max_ns, late_sum_ns;
};

struct direction {
	const char *name;
	int fd;
	struct params p;
	struct counters c;
	uint64_t rng;
	/* due time of the last in-order packet, so that jitter never reorders */
	int64_t last_due;
};

struct entry {
	int64_t due;
	uint64_t order; /* FIFO among equal due times */
	struct direction *dir;
	uint16_t len;
	uint8_t *data;
};

static struct entry heap[MAX_QUEUED];
static size_t heap_len;
static uint64_t next_order;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* splitmix64: one seeded stream per direction */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double uniform(uint64_t *state)
{
	return (double)(next_random(state) >> 11) / (double)(1ULL << 53);
}

static int before(const struct entry *a, const struct entry *b)
{
	return a->due < b->due || (a->due == b->due && a->order < b->order);
}

static void heap_push(struct entry e)
{
	size_t i = heap_len++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(&e, &heap[parent]))
			break;
		heap[i] = heap[parent];
		i = parent;
	}
	heap[i] = e;
}

static struct entry heap_pop(void)
{
	struct entry top = heap[0];
	struct entry last = heap[--heap_len];
	size_t i = 0;
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= heap_len)
			break;
		if (child + 1 < heap_len && before(&heap[child + 1], &heap[child]))
			child++;
		if (!before(&heap[child], &last))
			break;
		heap[i] = heap[child];
		i = child;
	}
	if (heap_len > 0)
		heap[i] = last;
	return top;
}

static void enqueue(struct direction *d, const uint8_t *data, size_t len, int64_t due)
{
	if (heap_len >= MAX_QUEUED) {
		d->c.overflow++;
		return;
	}
	uint8_t *copy = malloc(len);
	if (copy == NULL) {
		d->c.overflow++;
		return;
	}
	memcpy(copy, data, len);
	heap_push((struct entry){ .due = due, .order = next_order++, .dir = d, .len = (uint16_t)len, .data = copy });
}

static void on_packet(struct direction *d, const uint8_t *data, size_t len, int64_t now)
{
	d->c.in++;
	if (d->p.loss > 0 && uniform(&d->rng) < d->p.loss) {
		d->c.lost++;
		return;
	}
	int64_t due = now + d->p.delay_ns;
	if (d->p.jitter_ns > 0)
		due += (int64_t)((uniform(&d->rng) * 2 - 1) * (double)d->p.jitter_ns);
	if (due < now)
		due = now;
	if (d->p.reorder > 0 && uniform(&d->rng) < d->p.reorder) {
		d->c.reordered++;
		due += d->p.reorder_ns;
	} else {
		if (due < d->last_due)
			due = d->last_due;
		d->last_due = due;
	}
	enqueue(d, data, len, due);
	if (d->p.dup > 0 && uniform(&d->rng) < d->p.dup) {
		d->c.duplicated++;
		enqueue(d, data, len, due);
	}
}

/* a write can take a while: the kernel forwards the packet, and may deliver it, inside it */
static void release_due(void)
{
	int64_t now;
	while (heap_len > 0 && heap[0].due <= (now = now_ns())) {
		struct entry e = heap_pop();
		struct direction *d = e.dir;
		int64_t late = now - e.due;
		d->c.late_sum_ns += late;
		if (late > d->c.late_max_ns)
			d->c.late_max_ns = late;
		if (late > 1000000)
			d->c.late_1ms++;
		if (write(d->fd, e.data, e.len) < 0)
			d->c.write_errors++;
		else
			d->c.out++;
		free(e.data);
	}
}

static int open_tun(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void print_counters(const struct direction *d)
{
	const struct counters *c = &d->c;
	double late_mean_us = c->out + c->write_errors > 0 ? (double)c->late_sum_ns / 1000.0 / (double)(c->out + c->write_errors) : 0;
	printf("\"%s\":{\"in\":%llu,\"out\":%llu,\"lost\":%llu,\"duplicated\":%llu,\"reordered\":%llu,\"overflow\":%llu,"
	       "\"writeErrors\":%llu,\"lateMaxUs\":%.1f,\"lateMeanUs\":%.2f,\"late1ms\":%llu}",
	       d->name, (unsigned long long)c->in, (unsigned long long)c->out, (unsigned long long)c->lost,
	       (unsigned long long)c->duplicated, (unsigned long long)c->reordered, (unsigned long long)c->overflow,
	       (unsigned long long)c->write_errors, (double)c->late_max_ns / 1000.0, late_mean_us,
	       (unsigned long long)c->late_1ms);
}

static void reply_error(const char *message)
{
	printf("{\"type\":\"error\",\"message\":\"%s\"}\n", message);
	fflush(stdout);
}

static int set_param(struct params *p, const char *key, double value)
{
	if (value < 0)
		return -1;
	if (strcmp(key, "delay_us") == 0)
		p->delay_ns = (int64_t)(value * 1000);
	else if (strcmp(key, "jitter_us") == 0)
		p->jitter_ns = (int64_t)(value * 1000);
	else if (strcmp(key, "reorder_us") == 0)
		p->reorder_ns = (int64_t)(value * 1000);
	else if (strcmp(key, "loss") == 0 && value <= 1)
		p->loss = value;
	else if (strcmp(key, "dup") == 0 && value <= 1)
		p->dup = value;
	else if (strcmp(key, "reorder") == 0 && value <= 1)
		p->reorder = value;
	else
		return -1;
	return 0;
}

static void handle_command(char *line, struct direction *ab, struct direction *ba)
{
	char *save = NULL;
	char *word = strtok_r(line, " \t\r", &save);
	if (word == NULL)
		return;
	if (strcmp(word, "stats") == 0) {
		printf("{\"type\":\"stats\",");
		print_counters(ab);
		printf(",");
		print_counters(ba);
		printf(",\"queued\":%zu}\n", heap_len);
		fflush(stdout);
		return;
	}
	if (strcmp(word, "set") != 0) {
		reply_error("unknown command");
		return;
	}
	char *which = strtok_r(NULL, " \t\r", &save);
	int to_ab = which != NULL && (strcmp(which, "ab") == 0 || strcmp(which, "both") == 0);
	int to_ba = which != NULL && (strcmp(which, "ba") == 0 || strcmp(which, "both") == 0);
	if (!to_ab && !to_ba) {
		reply_error("set needs ab, ba or both");
		return;
	}
	/* every pair is checked before any is applied */
	struct params next_ab = ab->p, next_ba = ba->p;
	char *pair;
	while ((pair = strtok_r(NULL, " \t\r", &save)) != NULL) {
		char *eq = strchr(pair, '=');
		char *end = NULL;
		if (eq == NULL) {
			reply_error("expected key=value");
			return;
		}
		*eq = '\0';
		double value = strtod(eq + 1, &end);
		if (end == eq + 1 || *end != '\0' ||
		    (to_ab && set_param(&next_ab, pair, value) < 0) ||
		    (to_ba && set_param(&next_ba, pair, value) < 0)) {
			reply_error("bad parameter");
			return;
		}
	}
	ab->p = next_ab;
	ba->p = next_ba;
	printf("{\"type\":\"ok\"}\n");
	fflush(stdout);
}

/* reads what stdin has; returns 0 once it is closed */
static int read_commands(struct direction *ab, struct direction *ba)
{
	static char buf[8192];
	static size_t used;
	ssize_t n = read(STDIN_FILENO, buf + used, sizeof buf - 1 - used);
	if (n == 0)
		return 0;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	used += (size_t)n;
	buf[used] = '\0';
	char *start = buf;
	char *nl;
	while ((nl = strchr(start, '\n')) != NULL) {
		*nl = '\0';
		handle_command(start, ab, ba);
		start = nl + 1;
	}
	used -= (size_t)(start - buf);
	memmove(buf, start, used);
	if (used == sizeof buf - 1)
		used = 0; /* a line this long is garbage */
	return 1;
}

static void drain_tun(struct direction *d)
{
	static uint8_t packet[MAX_PACKET];
	for (int i = 0; i < READS_PER_WAKE; i++) {
		ssize_t n = read(d->fd, packet, sizeof packet);
		if (n <= 0)
			return;
		on_packet(d, packet, (size_t)n, now_ns());
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: linkemu <tun A->B> <tun B->A> <seed>\n");
		return 2;
	}
	uint64_t seed = strtoull(argv[3], NULL, 10);
	struct direction ab = { .name = "ab", .rng = seed ^ 0x5555555555555555ULL };
	struct direction ba = { .name = "ba", .rng = seed ^ 0xaaaaaaaaaaaaaaaaULL };
	ab.fd = open_tun(argv[1]);
	ba.fd = open_tun(argv[2]);
	if (ab.fd < 0 || ba.fd < 0) {
		fprintf(stderr, "linkemu: cannot open TUN devices: %s\n", strerror(errno));
		reply_error("cannot open TUN devices");
		return 1;
	}
	/* sub-millisecond release times on a busy machine: wake-ups must not be coalesced or queued
	 * behind the endpoints; best effort, the bench still runs without these */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	struct sched_param sp = { .sched_priority = 10 };
	int realtime = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
	signal(SIGPIPE, SIG_IGN);
	fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
	printf("{\"type\":\"ready\",\"realtime\":%s}\n", realtime ? "true" : "false");
	fflush(stdout);

	struct pollfd fds[3] = {
		{ .fd = ab.fd, .events = POLLIN },
		{ .fd = ba.fd, .events = POLLIN },
		{ .fd = STDIN_FILENO, .events = POLLIN },
	};
	for (;;) {
		release_due();
		int64_t now = now_ns();
		struct timespec timeout, *tp = NULL;
		if (heap_len > 0) {
			int64_t wait = heap[0].due - now;
			if (wait < 0)
				wait = 0;
			timeout.tv_sec = wait / 1000000000;
			timeout.tv_nsec = wait % 1000000000;
			tp = &timeout;
		}
		if (ppoll(fds, 3, tp, NULL) < 0 && errno != EINTR)
			return 1;
		if (fds[0].revents & POLLIN)
			drain_tun(&ab);
		if (fds[1].revents & POLLIN)
			drain_tun(&ba);
		if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (!read_commands(&ab, &ba))
				return 0;
		}
	}
}

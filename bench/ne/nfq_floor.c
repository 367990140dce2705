/* nfq_floor.c owns one NFQUEUE and every packet id on it until its verdict is sent: the
 * mechanism floor of a user-space connection filter (../shared/reference/ne-anchor-figures.md).
 * Each packet gets NF_ACCEPT plus mark 1, nothing else; the rules that send only a flow's
 * first packet here and save the mark to conntrack belong to bench/ne/run.sh.
 * Copy range 128, NFQA_CFG_F_GSO (no segmentation before queueing), queue maxlen 4096.
 *
 *   usage: nfq_floor [QUEUE_NUM]   (default 17; prints "ready" on stderr once bound and
 *                                   "packets=N" on stdout at SIGTERM/SIGINT, then exits 0)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

enum { COPY_RANGE = 128, QUEUE_MAXLEN = 4096, RECV_BUF = 0xffff + 4096 };

static struct mnl_socket *nl;
static volatile sig_atomic_t stop;
static unsigned long long packets;

static void on_signal(int sig) { stop = sig; }

static int verdict_send(uint16_t queue, uint32_t id)
{
	char buf[256]; /* header + verdict + mark */
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, queue);

	nfq_nlmsg_verdict_put(nlh, (int)id, NF_ACCEPT);
	nfq_nlmsg_verdict_put_mark(nlh, 1);
	return mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0 ? -1 : 0;
}

static int packet_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *attr[NFQA_MAX + 1] = { 0 };
	struct nfqnl_msg_packet_hdr *ph;
	struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return MNL_CB_OK; /* not a packet: nothing to answer */
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	packets++;
	if (verdict_send(ntohs(nfg->res_id), ntohl(ph->packet_id)) < 0) {
		perror("nfq_floor: verdict");
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static int config_send(struct nlmsghdr *nlh, const char *what)
{
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		fprintf(stderr, "nfq_floor: %s: %s\n", what, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* a batch of 128-byte copies plus metadata; a full packet would fit too */
	static char buf[RECV_BUF];
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned queue = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 17;
	struct nlmsghdr *nlh;
	unsigned portid;
	int one = 1, n;

	if (argc > 2 || (argc == 2 && !strcmp(argv[1], "--help"))) {
		fprintf(stderr, "usage: nfq_floor [QUEUE_NUM]\n");
		return argc > 2 ? 2 : 0;
	}
	sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: recv returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("nfq_floor: netlink");
		return 1;
	}
	portid = mnl_socket_get_portid(nl);

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (config_send(nlh, "bind") < 0)
		return 1;
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, COPY_RANGE);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, QUEUE_MAXLEN);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO));
	if (config_send(nlh, "params") < 0)
		return 1;
	/* a queue overflow shows in the kernel's counters; ENOBUFS would only end the loop */
	mnl_socket_setsockopt(nl, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	fprintf(stderr, "ready\n");

	while (!stop) {
		n = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			perror("nfq_floor: recv");
			return 1;
		}
		if (mnl_cb_run(buf, (size_t)n, 0, portid, packet_cb, NULL) < 0 && errno != EINTR) {
			perror("nfq_floor: mnl_cb_run");
			return 1;
		}
	}
	/* unbinding is implicit: closing the socket releases the queue */
	mnl_socket_close(nl);
	printf("packets=%llu\n", packets);
	return 0;
}

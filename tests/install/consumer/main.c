/* A program outside the tree using an installed redum: a FIFO round trip. */
#include <stdio.h>
#include <redum/fifo.h>
#include <redum/version.h>

int main(void)
{
	struct redum_fifo *f = NULL;
	struct redum_fifo_stats st;
	int err = redum_fifo_alloc(&f, REDUM_FIFO_SPSC, 8);

	if (!err)
		err = redum_fifo_push(f, &st);
	redum_fifo_stats(f, &st);
	printf("redum %s enqueued %llu\n", REDUM_VERSION,
	       (unsigned long long)st.enqueued);
	return err || st.enqueued != 1;
}

/* main.c - the s2sd daemon (filled in by the foundation work). */
#include <stdio.h>

int
main(void)
{
	fprintf(stderr, "s2sd: daemon not built yet\n");
	return 1;
}

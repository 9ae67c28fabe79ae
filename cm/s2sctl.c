/* s2sctl.c - the admin tool (filled in by the foundation work). */
#include <stdio.h>

int
main(void)
{
	fprintf(stderr, "s2sctl: no commands yet\n");
	return 1;
}

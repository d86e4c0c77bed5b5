#include <stdio.h>

int main(void)
{
	puts("ringfold " RINGFOLD_VERSION ": under construction");
	return 0;
}

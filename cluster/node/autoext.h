#ifndef SIAMSQL_NODE_AUTOEXT_H
#define SIAMSQL_NODE_AUTOEXT_H
#include <stddef.h>

/* Loads the siamsql extension from path (a file, or a name dlopen() finds)
** and registers it for every SQLite connection this process opens from now
** on.  Returns 0, or -1 with a message in err[n]. */
int siamsql_register(const char *path, char *err, size_t n);

#endif

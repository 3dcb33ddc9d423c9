/* The target's one function is inline in include/cprefetch.h; SwiftPM needs a source file. */
#include "cprefetch.h"

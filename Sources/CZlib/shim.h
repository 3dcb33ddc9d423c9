#ifndef PEERWATCH_CZLIB_SHIM_H
#define PEERWATCH_CZLIB_SHIM_H
#include <zlib.h>

// inflateInit2 is a macro (it passes the library version and the stream's size), which Swift
// cannot call: this is the one helper Swift needs.
static inline int peerwatch_inflate_init2(z_streamp stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}
#endif

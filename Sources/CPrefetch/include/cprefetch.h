#ifndef PEERWATCH_CPREFETCH_H
#define PEERWATCH_CPREFETCH_H

/* A hint to the processor that `address` will be read soon (to all cache levels). Swift has no
 * prefetch of its own; the flow table asks for the index entry and the slot of a packet a few
 * packets ahead, so that their cache misses overlap instead of coming one after another. A
 * prefetch never faults, whatever the address. */
static inline void pw_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif

#ifndef PEERWATCH_CPCAP_SHIM_H
#define PEERWATCH_CPCAP_SHIM_H
#include <pcap/pcap.h>
#include <linux/filter.h>
#endif

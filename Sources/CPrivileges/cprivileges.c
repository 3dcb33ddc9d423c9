#define _GNU_SOURCE
#include "cprivileges.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int pw_capset(uint64_t keep) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2] = {
        { .effective = (uint32_t)keep, .permitted = (uint32_t)keep, .inheritable = 0 },
        { .effective = (uint32_t)(keep >> 32), .permitted = (uint32_t)(keep >> 32), .inheritable = 0 },
    };
    return (int)syscall(SYS_capset, &header, data);
}

int pw_drop_privileges(const char *user, uid_t uid, gid_t gid, uint64_t keep) {
    // Capabilities the kernel knows and we do not keep leave the bounding set for good.
    for (int cap = 0; cap < 64; cap++) {
        if (keep & ((uint64_t)1 << cap)) continue;
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break; /* past the kernel's last capability */
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) return PW_DROP_BOUNDING;
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return PW_DROP_KEEPCAPS;
    if (initgroups(user, gid) < 0) return PW_DROP_GROUPS;
    if (setresgid(gid, gid, gid) < 0) return PW_DROP_GID;
    if (setresuid(uid, uid, uid) < 0) return PW_DROP_UID;
    if (pw_capset(keep) < 0) return PW_DROP_CAPSET;
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return PW_DROP_KEEPCAPS;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return PW_DROP_AMBIENT;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return PW_DROP_NO_NEW_PRIVS;
    return PW_DROP_OK;
}

/*
 * Fuzz target: the XFRM netlink parser (kink/kink_xfrm_msg.h), which reads
 * what kinkd receives on its netlink socket, replies and the kernel's
 * ACQUIRE/EXPIRE notifications, as a stream of several messages.
 *
 * Besides memory errors, the target aborts when the parser breaks its
 * contract: a success consumes between 1 and the bytes left, a refusal
 * consumes nothing and names a reason, and an SA the parser returns can be
 * built again as a NEWSA (fixed test keys) that parses back to the same
 * SPI, addresses and reqid.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <krb5/krb5.h>

#include "kink_xfrm_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
rebuild_sa(const struct kink_xfrm_event *ev)
{
    static const unsigned char ekey[16], akey[20];
    unsigned char buf[1024];
    struct kink_xfrm_sa sa;
    struct kink_xfrm_event back;
    size_t len, used;
    const char *why = NULL;
    krb5_error_code ret;

    memset(&sa, 0, sizeof(sa));
    sa.family = ev->family;
    sa.saddr = ev->saddr;
    sa.daddr = ev->daddr;
    sa.spi = ev->spi;
    sa.reqid = ev->reqid;
    sa.sel = ev->sel;
    sa.enc = KINK_XFRM_ENC_AES_CBC;
    sa.enc_key = ekey;
    sa.enc_key_len = sizeof(ekey);
    sa.auth = KINK_XFRM_AUTH_HMAC_SHA1_96;
    sa.auth_key = akey;
    sa.auth_key_len = sizeof(akey);
    ret = kink_xfrm_build_newsa(buf, sizeof(buf), 1, &sa, &len, &why);
    if (ret == EINVAL && why != NULL && ev->sel.family != AF_INET &&
        ev->sel.family != AF_INET6)
        return;                 /* an AF_UNSPEC selector: ours are set */
    if (ret != 0)
        abort();
    if (kink_xfrm_parse(buf, len, &back, &used, &why) != 0 || used != len ||
        back.type != KINK_XFRM_EV_SA || back.spi != ev->spi ||
        back.reqid != ev->reqid || back.family != ev->family ||
        memcmp(&back.daddr, &ev->daddr, sizeof(ev->daddr)) != 0 ||
        memcmp(&back.saddr, &ev->saddr, sizeof(ev->saddr)) != 0 ||
        back.sel.family != ev->sel.family ||
        memcmp(&back.sel.saddr, &ev->sel.saddr, sizeof(ev->sel.saddr)) ||
        memcmp(&back.sel.daddr, &ev->sel.daddr, sizeof(ev->sel.daddr)) ||
        back.sel.prefixlen_s != ev->sel.prefixlen_s ||
        back.sel.prefixlen_d != ev->sel.prefixlen_d ||
        back.sel.proto != ev->sel.proto || back.sel.sport != ev->sel.sport ||
        back.sel.dport != ev->sel.dport)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kink_xfrm_event ev;
    size_t off = 0, used;
    const char *why;

    while (off < size) {
        why = NULL;
        used = 12345;
        if (kink_xfrm_parse(data + off, size - off, &ev, &used, &why) != 0) {
            if (used != 0 || why == NULL)
                abort();
            break;
        }
        if (used == 0 || used > size - off)
            abort();
        if (ev.type == KINK_XFRM_EV_SA || ev.type == KINK_XFRM_EV_EXPIRE)
            rebuild_sa(&ev);
        off += used;
    }
    return 0;
}

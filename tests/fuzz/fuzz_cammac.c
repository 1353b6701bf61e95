/*
 * Fuzz target: ks_authdata_indicators() (lib/ks_asn1.h) over fuzzed
 * ticket authorization data.
 *
 * Input: a list of authorization data elements, each
 *     u8 kind || u16be length || length bytes of contents
 * (a short last element takes what is left).  kind selects the ad-type
 * from { AD-IF-RELEVANT, AD-CAMMAC, AD-AUTH-INDICATOR, AD-WIN2K-PAC, 513,
 * -150 }, modulo 6, so most elements are containers the reader opens.
 * Each element's contents get a buffer of their exact size.
 *
 * Besides memory errors, the target aborts when the result breaks the
 * rules of ks_asn1.h: success gives a NULL-terminated list of at most
 * KS_MAX_INDICATORS strings of at most KS_MAX_INDICATOR_LEN bytes of
 * UTF-8; a second call gives the same list; every IF-RELEVANT element
 * that yields a list on its own decodes as AuthorizationData and encodes
 * back to the same bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>

#include "ks_asn1.h"
#include "ks_iana.h"

#define FUZZ_MAX_INPUT 65536
#define FUZZ_MAX_ELEMENTS 64

static const krb5_authdatatype kinds[] = {
    KS_AD_IF_RELEVANT, KS_AD_CAMMAC, KS_AD_AUTH_INDICATOR, 128, 513, -150,
};

static krb5_context ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    setenv("KRB5_CONFIG", "/dev/null", 1);
    if (krb5_init_context(&ctx) != 0)
        abort();
    return 0;
}

/* Split the input into a NULL-terminated authorization data list. */
static krb5_authdata **
split(const uint8_t *data, size_t size)
{
    krb5_authdata **list;
    size_t pos = 0, n = 0, len;

    list = calloc(FUZZ_MAX_ELEMENTS + 1, sizeof(*list));
    if (list == NULL)
        return NULL;
    while (pos < size && n < FUZZ_MAX_ELEMENTS) {
        list[n] = calloc(1, sizeof(*list[n]));
        if (list[n] == NULL)
            break;
        list[n]->magic = KV5M_AUTHDATA;
        list[n]->ad_type = kinds[data[pos] % (sizeof(kinds) /
                                              sizeof(*kinds))];
        pos++;
        len = 0;
        if (pos + 2 <= size)
            len = ((size_t)data[pos] << 8) | data[pos + 1];
        pos += 2;
        if (pos > size)
            pos = size;
        if (len > size - pos)
            len = size - pos;
        list[n]->contents = malloc(len ? len : 1);
        if (list[n]->contents == NULL)
            break;
        if (len > 0)
            memcpy(list[n]->contents, data + pos, len);
        list[n]->length = len;
        pos += len;
        n++;
    }
    return list;
}

/* Nonzero if the len bytes at s are UTF-8 without NUL: the table of
 * well-formed byte sequences of the Unicode standard (section 3.9), kept
 * apart from the library's own check. */
static int
utf8_ok(const unsigned char *s, size_t len)
{
    size_t i = 0, n, k;
    unsigned char lo, hi;

    while (i < len) {
        unsigned char c = s[i];

        lo = 0x80;
        hi = 0xbf;
        if (c >= 0x01 && c <= 0x7f)
            n = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c == 0xe0)
            n = 2, lo = 0xa0;
        else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
            n = 2;
        else if (c == 0xed)
            n = 2, hi = 0x9f;
        else if (c == 0xf0)
            n = 3, lo = 0x90;
        else if (c >= 0xf1 && c <= 0xf3)
            n = 3;
        else if (c == 0xf4)
            n = 3, hi = 0x8f;
        else
            return 0;
        if (n > len - i - 1)
            return 0;
        for (k = 1; k <= n; k++) {
            if (s[i + k] < (k == 1 ? lo : 0x80) ||
                s[i + k] > (k == 1 ? hi : 0xbf))
                return 0;
        }
        i += n + 1;
    }
    return 1;
}

/* Abort unless list is a valid indicator list. */
static size_t
check_list(char **list)
{
    size_t i, len;

    if (list == NULL)
        abort();
    for (i = 0; list[i] != NULL; i++) {
        if (i >= KS_MAX_INDICATORS)
            abort();
        len = strlen(list[i]);
        if (len > KS_MAX_INDICATOR_LEN ||
            !utf8_ok((const unsigned char *)list[i], len))
            abort();
    }
    return i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    krb5_authdata **list, *one[2], **ad = NULL;
    char **ind = NULL, **again = NULL, **single = NULL;
    unsigned char *der = NULL;
    size_t n, i, derlen = 0;
    krb5_error_code ret;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    list = split(data, size);
    if (list == NULL)
        return 0;
    ret = ks_authdata_indicators(ctx, list, &ind);
    if (ret == 0) {
        n = check_list(ind);
        if (ks_authdata_indicators(ctx, list, &again) != 0)
            abort();
        for (i = 0; i <= n; i++) {
            if ((ind[i] == NULL) != (again[i] == NULL) ||
                (ind[i] != NULL && strcmp(ind[i], again[i]) != 0))
                abort();
        }
        ks_free_indicators(again);
        ks_free_indicators(ind);
    } else if (ind != NULL) {
        abort();                        /* output set on failure */
    }

    /* Each IF-RELEVANT element alone: when it yields a list, its contents
     * are canonical DER AuthorizationData. */
    for (i = 0; list[i] != NULL; i++) {
        if (list[i]->ad_type != KS_AD_IF_RELEVANT)
            continue;
        one[0] = list[i];
        one[1] = NULL;
        if (ks_authdata_indicators(ctx, one, &single) != 0)
            continue;
        check_list(single);
        ks_free_indicators(single);
        if (ks_authdata_decode(list[i]->contents, list[i]->length, &ad) != 0)
            abort();
        if (ks_authdata_encode(ad, &der, &derlen) != 0)
            abort();
        if (derlen != list[i]->length ||
            memcmp(der, list[i]->contents, derlen) != 0)
            abort();
        free(der);
        krb5_free_authdata(ctx, ad);
        ad = NULL;
    }
    krb5_free_authdata(ctx, list);
    return 0;
}

/*
 * Fuzz target: the freshness token framing (lib/ks_freshness.h), which the
 * KDC reads back from a registration request before decrypting it.
 *
 * Besides memory errors, the target aborts when the parser breaks its
 * contract: what parses must build again to exactly the input bytes, the
 * ciphertext must lie inside the input, and the documented caps hold.
 * The ciphertext of a parsed token also goes to the FreshnessPlain
 * decoder (in real use it is decrypted first; a KDC whose key leaked
 * would see attacker-chosen plaintext there).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>

#include "ks_asn1.h"
#include "ks_freshness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ks_freshness_token tok;
    struct ks_freshness_plain *fp = NULL;
    krb5_data again;

    if (ks_freshness_token_parse(data, size, &tok) != 0)
        return 0;
    if (tok.kvno == 0 || tok.ciphertext_len == 0 ||
        tok.ciphertext_len > KS_FRESHNESS_MAX_CIPHERTEXT ||
        tok.ciphertext != data + KS_FRESHNESS_HEADER_LEN ||
        tok.ciphertext_len != size - KS_FRESHNESS_HEADER_LEN)
        abort();
    if (ks_freshness_token_build(tok.kvno, tok.enctype, tok.ciphertext,
                                 tok.ciphertext_len, &again) != 0)
        abort();
    if (again.length != size || memcmp(again.data, data, size) != 0)
        abort();
    free(again.data);
    if (ks_freshness_plain_decode(tok.ciphertext, tok.ciphertext_len,
                                  &fp) == 0)
        ks_freshness_plain_free(fp);
    return 0;
}

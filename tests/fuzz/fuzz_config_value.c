/*
 * Fuzz target: values of kdc.conf keys, through ks_config_strip_comment()
 * (end-of-line comments), ks_parse_service_rule() ("GLOB [name=value ...]")
 * and ks_parse_duration() (krb5 durations), each on the raw value and on
 * the value with its comment stripped, as ks_config_load() passes it.
 *
 * Input format: the whole input is one value (a NUL ends it early, as it
 * would in a profile string).  Besides memory errors, the target aborts
 * when a result breaks the documented rules: a stripped value that is not
 * a prefix of the input, ends in whitespace or still holds a comment; a
 * rule's glob empty, with whitespace, '=' or '@'; an attribute with an
 * empty name or value or with whitespace; a duration not > 0.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>

#include "ks_config.h"
#include "ks_err.h"

#define FUZZ_MAX_INPUT 65536

/* Nonzero if s is empty or holds whitespace. */
static int
bad_word(const char *s)
{
    if (s == NULL || *s == '\0')
        return 1;
    for (; *s != '\0'; s++) {
        if (isspace((unsigned char)*s))
            return 1;
    }
    return 0;
}

/* Parse value as a service rule and check what comes out. */
static void
fuzz_service_rule(const char *value)
{
    struct ks_service_rule rule;
    const char *why = NULL;
    krb5_error_code ret;
    size_t i;

    ret = ks_parse_service_rule(value, &rule, &why);
    if (ret == KSTL_BAD_CONFIG) {
        if (why == NULL || rule.pattern != NULL || rule.nattrs != 0)
            abort();
        return;
    }
    if (ret != 0)
        abort();
    if (bad_word(rule.pattern) || strchr(rule.pattern, '=') != NULL ||
        strchr(rule.pattern, '@') != NULL)
        abort();
    for (i = 0; i < rule.nattrs; i++) {
        if (bad_word(rule.attr_names[i]) || bad_word(rule.attr_values[i]) ||
            strchr(rule.attr_names[i], '=') != NULL)
            abort();
    }
    ks_service_rule_free(&rule);
    if (rule.pattern != NULL || rule.nattrs != 0)
        abort();
}

/* Parse value as a duration and check what comes out. */
static void
fuzz_duration(const char *value)
{
    krb5_deltat d = -7;
    krb5_error_code ret;

    ret = ks_parse_duration(value, &d);
    if (ret == 0 && d <= 0)
        abort();
    if (ret != 0 && (ret != KSTL_BAD_CONFIG || d != -7))
        abort();
}

/* Strip the comment from a copy of value and check the result. */
static char *
fuzz_strip_comment(const char *value)
{
    char *v = strdup(value);
    size_t n, i;

    if (v == NULL)
        abort();
    ks_config_strip_comment(v);
    n = strlen(v);
    if (strncmp(v, value, n) != 0)
        abort();
    if (n > 0 && isspace((unsigned char)v[n - 1]))
        abort();
    for (i = 0; i < n; i++) {
        if (v[i] == '#' && (i == 0 || isspace((unsigned char)v[i - 1])))
            abort();
    }
    /* What was cut starts with whitespace, '#' or is all whitespace. */
    if (value[n] != '\0' && !isspace((unsigned char)value[n]) &&
        !(n == 0 && value[0] == '#'))
        abort();
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value, *stripped;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    value = malloc(size + 1);
    if (value == NULL)
        return 0;
    memcpy(value, data, size);
    value[size] = '\0';
    fuzz_service_rule(value);
    fuzz_duration(value);
    stripped = fuzz_strip_comment(value);
    fuzz_service_rule(stripped);
    fuzz_duration(stripped);
    free(stripped);
    free(value);
    return 0;
}

/* placeholder: being written */
#include "config.h"
#include <krb5/krb5.h>
#include <krb5/plugin.h>
krb5_error_code clpreauth_tempkey_initvt(krb5_context, int, int, krb5_plugin_vtable);
krb5_error_code clpreauth_tempkey_initvt(krb5_context c, int a, int b, krb5_plugin_vtable v) { return KRB5_PLUGIN_VER_NOTSUPP; }

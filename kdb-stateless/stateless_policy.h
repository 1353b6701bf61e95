/*
 * Ticket policy of the stateless backend: the restricted profile of
 * devices registered anonymously (unprovisioned_services).
 *
 * A device registered anonymously logs in with a TGT carrying the auth
 * indicator devreg-anonymous; once an operator runs 'kstateless provision
 * ID', its next login adds devreg-provisioned.  Until then the TGS gives
 * it tickets only for krbtgt/REALM and for names matching an
 * unprovisioned_services glob.  The KDB module's check_policy_tgs and
 * check_policy_as methods call the functions below.
 */
#ifndef STATELESS_POLICY_H
#define STATELESS_POLICY_H

#include <krb5/krb5.h>

#include "ks_config.h"

/* KDC log reasons (the status of the KDC's TGS_REQ / AS_REQ log line). */
#define KS_POLICY_STATUS_UNPROVISIONED  "DEVREG_UNPROVISIONED"
#define KS_POLICY_STATUS_AS_SERVICE     "DEVREG_AS_SERVICE"
#define KS_POLICY_STATUS_BAD_AUTHDATA   "DEVREG_BAD_AUTHDATA"

/*
 * TGS policy: may the holder of ticket (the decrypted header ticket of a
 * TGS request, normally a TGT) get a ticket for server?  Returns 0, or
 * KRB5KDC_ERR_POLICY with *status set to a KS_POLICY_STATUS_* literal and
 * an error message naming the client, the server and the fix.
 */
krb5_error_code ks_policy_check_tgs(krb5_context ctx,
                                    const struct ks_config *cfg,
                                    const char *realm,
                                    krb5_const_principal server,
                                    const krb5_ticket *ticket,
                                    const char **status);

/*
 * AS policy: may client get a ticket for server in an AS exchange?  The
 * client's indicators are not known yet when the KDC asks (they come from
 * preauthentication), so a device may ask only for krbtgt/REALM,
 * devreg/REALM (registration, login, renewal) and unprovisioned_services:
 * other service tickets come from its TGT, where ks_policy_check_tgs sees
 * its registration.  Returns as ks_policy_check_tgs does.
 */
krb5_error_code ks_policy_check_as(krb5_context ctx,
                                   const struct ks_config *cfg,
                                   const char *realm,
                                   krb5_const_principal client,
                                   krb5_const_principal server,
                                   const char **status);

#endif

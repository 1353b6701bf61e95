# pki.sh: test certificates for devreg, made with the openssl command at
# test time (nothing secret is committed).  Source after realm.sh.
#
#   pki_ca DIR NAME                  DIR/NAME.pem, DIR/NAME.key (EC P-256 CA)
#   pki_kdc DIR CA REALM [NAME]      DIR/NAME.pem/.key (default rs): the
#                                    registration service certificate, EKU
#                                    id-pkinit-KPKdc, id-pkinit-san
#                                    krbtgt/REALM@REALM, signed by CA
#   pki_selfsigned DIR NAME TYPE     DIR/NAME.pem/.key, TYPE ed25519, p256
#                                    or rsa (2048), self-signed
#   pki_device DIR CA NAME PRINCIPAL REALM [DAYS [EKU]]
#                                    a device certificate signed by CA,
#                                    valid DAYS (30): EKU (default
#                                    id-pkinit-KPClientAuth), id-pkinit-san
#                                    PRINCIPAL (two components, e.g.
#                                    device/d1) in REALM
#   pki_server DIR CA NAME PRINCIPAL REALM [DAYS [EKU]]
#                                    a server certificate for tempkey, as
#                                    pki_device (PRINCIPAL e.g.
#                                    host/web.example.test)
#   pki_server_dns DIR CA NAME DNSNAME [DAYS [EKU]]
#                                    a server certificate naming only
#                                    dNSName DNSNAME; EKU "none" leaves the
#                                    extendedKeyUsage extension out

# _pki_san_cnf FILE REALM C1 C2 NAMETYPE EKU: an openssl config whose
# section "ext" holds EKU and an id-pkinit-san of C1/C2@REALM.
_pki_san_cnf() {
    cat >"$1" <<EOC
[req]
distinguished_name = dn
[dn]
[ext]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = $6
subjectAltName = otherName:1.3.6.1.5.2.2;SEQUENCE:princ_name
[princ_name]
realm = EXP:0,GeneralString:$2
principal_name = EXP:1,SEQUENCE:principal_seq
[principal_seq]
name_type = EXP:0,INTEGER:$5
name_string = EXP:1,SEQUENCE:principals
[principals]
princ1 = GeneralString:$3
princ2 = GeneralString:$4
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = keyCertSign,cRLSign
EOC
}

# _pki_failed DIR NAME: say on stderr (the test's log) which certificate
# could not be made, with the end of openssl's output.
_pki_failed() {
    echo "pki: making $2 in $1 failed; the end of $1/pki.log:" >&2
    tail -n 8 "$1/pki.log" 2>/dev/null | sed 's/^/    /' >&2
}

pki_ca() {
    local dir=$1 name=$2
    mkdir -p "$dir"
    _pki_san_cnf "$dir/$name.cnf" X x y 1 1.3.6.1.5.2.3.4
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/$name.key" -out "$dir/$name.pem" -subj "/CN=$name" \
        -days 30 -config "$dir/$name.cnf" -extensions ca \
        >>"$dir/pki.log" 2>&1 &&
        chmod 600 "$dir/$name.key"
}

# _pki_issue DIR CA NAME CNF DAYS: a P-256 key and a certificate from CA.
_pki_issue() {
    local dir=$1 ca=$2 name=$3 cnf=$4 days=$5
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name" \
        -config "$cnf" >>"$dir/pki.log" 2>&1 || { _pki_failed "$dir" "$name"; return 1; }
    chmod 600 "$dir/$name.key"
    # PKI_CLOCK (a date(1) string such as "40 days ago") issues the
    # certificate valid from that time for DAYS days (an expired or a not
    # yet valid certificate), with openssl ca -startdate/-enddate (the
    # faketime(1) wrapper is not used: its named semaphore collides with a
    # stale one left by an earlier run under the same PID).
    if [ -n "${PKI_CLOCK:-}" ]; then
        local start end
        start=$(date -u -d "$PKI_CLOCK" +%s) || { _pki_failed "$dir" "$name"; return 1; }
        end=$((start + days * 86400))
        _pki_ca_cnf "$dir" "$ca"
        openssl ca -batch -config "$dir/$ca.ca.cnf" -in "$dir/$name.csr" \
            -out "$dir/$name.pem" -notext \
            -startdate "$(date -u -d "@$start" +%Y%m%d%H%M%SZ)" \
            -enddate "$(date -u -d "@$end" +%Y%m%d%H%M%SZ)" \
            -extfile "$cnf" -extensions ext >>"$dir/pki.log" 2>&1 ||
            { _pki_failed "$dir" "$name"; return 1; }
        return 0
    fi
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.pem" \
        -CAkey "$dir/$ca.key" -CAcreateserial -out "$dir/$name.pem" \
        -days "$days" -extfile "$cnf" -extensions ext >>"$dir/pki.log" 2>&1 ||
        { _pki_failed "$dir" "$name"; return 1; }
}

# _pki_ca_cnf DIR CA: the minimal openssl ca(1) configuration (database,
# serial, no policy on the subject) for issuing from DIR/CA.pem.
_pki_ca_cnf() {
    local dir=$1 ca=$2 db=$1/$2.ca.d
    [ -f "$dir/$ca.ca.cnf" ] && return 0
    mkdir -p "$db"
    : >"$db/index.txt"
    openssl rand -hex 8 >"$db/serial"
    cat >"$dir/$ca.ca.cnf" <<EOC
[ca]
default_ca = ca_section
[ca_section]
database = $db/index.txt
serial = $db/serial
new_certs_dir = $db
certificate = $dir/$ca.pem
private_key = $dir/$ca.key
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[policy_any]
commonName = supplied
EOC
}

pki_kdc() {
    local dir=$1 ca=$2 realm=$3 name=${4:-rs}
    _pki_san_cnf "$dir/$name.cnf" "$realm" krbtgt "$realm" 2 1.3.6.1.5.2.3.5
    _pki_issue "$dir" "$ca" "$name" "$dir/$name.cnf" 30
}

pki_device() {
    local dir=$1 ca=$2 name=$3 princ=$4 realm=$5 days=${6:-30}
    local eku=${7:-1.3.6.1.5.2.3.4}
    _pki_san_cnf "$dir/$name.cnf" "$realm" "${princ%%/*}" "${princ#*/}" 1 \
        "$eku"
    _pki_issue "$dir" "$ca" "$name" "$dir/$name.cnf" "$days"
}

pki_selfsigned() {
    local dir=$1 name=$2 type=$3 args
    case $type in
        ed25519) args="-newkey ed25519" ;;
        p256) args="-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
        rsa) args="-newkey rsa:2048" ;;
        *) return 1 ;;
    esac
    mkdir -p "$dir"
    openssl req -x509 $args -nodes -keyout "$dir/$name.key" \
        -out "$dir/$name.pem" -subj "/CN=$name" -days 30 >>"$dir/pki.log" 2>&1 &&
        chmod 600 "$dir/$name.key"
}

pki_server() {
    pki_device "$@"
}

pki_server_dns() {
    local dir=$1 ca=$2 name=$3 dns=$4 days=${5:-30}
    local eku=${6:-1.3.6.1.5.2.3.4} ekuline
    [ "$eku" = none ] && ekuline= || ekuline="extendedKeyUsage = $eku"
    cat >"$dir/$name.cnf" <<EOC
[req]
distinguished_name = dn
[dn]
[ext]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
$ekuline
subjectAltName = DNS:$dns
EOC
    _pki_issue "$dir" "$ca" "$name" "$dir/$name.cnf" "$days"
}

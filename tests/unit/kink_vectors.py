#!/usr/bin/env python3
"""Independent computation of the vectors pinned in check_kink_keymat.c.

Implements, apart from MIT krb5 and from kink/kink_keymat.c:

  - RFC 3961 n-fold (section 5.1; checked against the n-fold vectors of
    RFC 3961 appendix A.1),
  - DK(key, "prf") of the RFC 3961 simplified profile for the AES-SHA1
    enctypes (RFC 3962: random-to-key is the identity, E is AES-CBC-CTS
    with a zero IV, which for one 16-octet block is one AES block
    encryption),
  - the RFC 3962 PRF: AES(DK(key, "prf"), first 16 octets of SHA-1(x)),
  - the racoon2 variant of it: the whole 20-octet SHA-1(x) encrypted with
    AES-CBC-CTS (ciphertext stealing as Kerberos does it: the last two
    blocks swapped), as racoon2's kinkd (bbkk_common.c,
    prf_simplified_profile with m = 1) computes it,
  - the RFC 8009 PRF for aes256-cts-hmac-sha384-192 (KDF-HMAC-SHA2 with
    label "prf"; checked against RFC 8009's PRF sample),
  - KEYMAT (RFC 4430, with the IKE expansion of RFC 2409 section 5.5):
    src = protocol (1) | SPI (4, network order) | Ni [| Nr];
    K1 = prf(key, src), Kn = prf(key, K(n-1) | src), KEYMAT = K1 | K2 ...
    truncated to the length asked for,
  - MODP-2048 (RFC 3526; p from its pi formula) and P-256 (affine
    arithmetic, checked against RFC 5903 section 8.1) Diffie-Hellman, and
    KEYMAT with PFS (RFC 2409 section 5.5: g(qm)^xy in front of src).

AES comes from the `cryptography` package (AES-ECB only: CBC and the
ciphertext stealing are written out here), SHA-1/SHA-384/HMAC from hashlib,
bignums from Python's int.

Run it to print the C tables pinned in check_kink_keymat.c:

    python3 tests/unit/kink_vectors.py
"""

import hashlib
import hmac
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def nfold(data, nbytes):
    """RFC 3961 section 5.1 n-fold of data to nbytes octets."""
    inbits = len(data) * 8
    outbits = nbytes * 8

    def gcd(a, b):
        while b:
            a, b = b, a % b
        return a

    lcm = inbits * outbits // gcd(inbits, outbits)
    # Concatenate copies of data, each rotated right by 13 bits more than
    # the one before, up to lcm bits.
    bits = "".join(format(b, "08b") for b in data)
    big = ""
    for i in range(lcm // inbits):
        r = (13 * i) % inbits
        big += bits[-r:] + bits[:-r] if r else bits
    # Add the outbits-sized chunks with one's-complement addition.
    total = 0
    mask = (1 << outbits) - 1
    for i in range(0, lcm, outbits):
        total += int(big[i:i + outbits], 2)
        while total > mask:
            total = (total & mask) + (total >> outbits)
    return total.to_bytes(nbytes, "big")


NFOLD_VECTORS = [  # RFC 3961 appendix A.1
    (b"012345", 8, "be072631276b1955"),
    (b"password", 7, "78a07b6caf85fa"),
    (b"Rough Consensus, and Running Code", 8, "bb6ed30870b7f0e0"),
    (b"password", 21, "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"),
    (b"MASSACHVSETTS INSTITVTE OF TECHNOLOGY", 24,
     "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b"),
    (b"Q", 21, "518a54a215a8452a518a54a215a8452a518a54a215"),
    (b"ba", 21, "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"),
    (b"kerberos", 8, "6b65726265726f73"),
    (b"kerberos", 16, "6b65726265726f737b9b5b2b93132b93"),
    (b"kerberos", 21, "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4"),
    (b"kerberos", 32, "6b65726265726f737b9b5b2b93132b93"
                      "5c9bdcdad95c9899c4cae4dee6d6cae4"),
]


def aes_block(key, block):
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def aes_cts_encrypt(key, data):
    """AES-CBC with a zero IV and Kerberos ciphertext stealing (RFC 3962
    section 5: the last two blocks swapped, the last one truncated)."""
    assert len(data) >= 16
    if len(data) == 16:
        return aes_block(key, data)
    blocks = [data[i:i + 16] for i in range(0, len(data), 16)]
    last_len = len(blocks[-1])
    prev = bytes(16)
    out = []
    for b in blocks[:-1]:
        prev = aes_block(key, xor(b, prev))
        out.append(prev)
    # Pad the last plaintext block with zeros: C(n-1) xor (P(n) | 0...)
    # keeps C(n-1)'s tail, which is what stealing means.
    cn = aes_block(key, xor(blocks[-1] + bytes(16 - last_len), prev))
    return b"".join(out[:-1]) + cn + out[-1][:last_len]


def dk_prf_aes(key):
    """DK(key, "prf") for aes128/aes256-cts-hmac-sha1-96."""
    k = nfold(b"prf", 16)
    dr = b""
    while len(dr) < len(key):
        k = aes_block(key, k)
        dr += k
    return dr[:len(key)]


def prf_rfc3962(key, data):
    return aes_block(dk_prf_aes(key), hashlib.sha1(data).digest()[:16])


def prf_racoon2(key, data):
    return aes_cts_encrypt(dk_prf_aes(key), hashlib.sha1(data).digest())


def prf_rfc8009(key, data, enctype):
    """RFC 8009 section 5: KDF-HMAC-SHA2(key, "prf", data, k)."""
    h, k = (hashlib.sha256, 256) if enctype == 19 else (hashlib.sha384, 384)
    msg = struct.pack(">I", 1) + b"prf" + b"\x00" + data + struct.pack(">I", k)
    return hmac.new(key, msg, h).digest()[:k // 8]


RFC8009_PRF_VECTORS = [  # RFC 8009 appendix A, "Sample results for PRF"
    (19, "3705d96080c17728a0e800eab6e0d23c",
     "9d188616f63852fe86915bb840b4a886ff3e6bb0f819b49b893393d393854295"),
    (20, "6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52",
     "9801f69a368c2bf675e59521e177d9a07f67efe1cfde8d3c8d6f6a0256e3b17d"
     "b3c1b62ad1b8553360d17367eb1514d2"),
]


def prf(variant, enctype, key, data):
    if enctype in (17, 18):
        if variant == "racoon2":
            return prf_racoon2(key, data)
        return prf_rfc3962(key, data)
    return prf_rfc8009(key, data, enctype)


def keymat(variant, enctype, key, protocol, spi, ni, nr, length):
    src = bytes([protocol]) + struct.pack(">I", spi) + ni + (nr or b"")
    out, k = b"", b""
    while len(out) < length:
        k = prf(variant, enctype, key, k + src)
        out += k
    return out[:length]


# --- Diffie-Hellman for PFS (kink/kink_dh.c) and KEYMAT with PFS. ---
#
# MODP-2048 (RFC 3526 section 3): p = 2^2048 - 2^1984 - 1 +
# 2^64 * (floor(2^1918 pi) + 124476), g = 2, with pi computed here by
# Machin's formula in integer arithmetic (so p is derived from its
# definition, not copied), then checked to be a safe prime.  Public values
# and g^xy are Python's pow(), left-padded to 256 octets.
#
# ECP-256 (RFC 5903): affine P-256 arithmetic written out below, checked
# against RFC 5903 section 8.1 (whose values check_kink_keymat.c pins);
# KE data is x | y, g^xy the x coordinate (section 7).
#
# KEYMAT with PFS (RFC 2409 section 5.5): src = g^xy | protocol | SPI |
# Ni [| Nr], expanded as without PFS.


def pi_fixed(bits):
    """floor(pi * 2^bits): Machin, 16 atan(1/5) - 4 atan(1/239)."""
    guard = 64
    one = 1 << (bits + guard)

    def atan_inv(x):
        total, term, n, sign = 0, one // x, 1, 1
        while term:
            total += sign * (term // n)
            term //= x * x
            n += 2
            sign = -sign
        return total

    return (16 * atan_inv(5) - 4 * atan_inv(239)) >> guard


def is_probable_prime(n, rounds=32):
    """Miller-Rabin with fixed small bases (deterministic output)."""
    if n < 2:
        return False
    for sp in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % sp == 0:
            return n == sp
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for a in range(2, 2 + rounds):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


MODP_P = (2**2048 - 2**1984 - 1 +
          2**64 * (pi_fixed(1918) + 124476))
MODP_G = 2
MODP_LEN = 256
# RFC 3526 section 3 prints p; its first and last words, as a cross-check
# of the formula above.
MODP_P_HEAD = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"
MODP_P_TAIL = "15728E5A8AACAA68FFFFFFFFFFFFFFFF"


def modp_public(x):
    return pow(MODP_G, x, MODP_P).to_bytes(MODP_LEN, "big")


def modp_shared(x, peer_pub):
    return pow(int.from_bytes(peer_pub, "big"), x,
               MODP_P).to_bytes(MODP_LEN, "big")


def modp_search(start, pred):
    """The first private value start, start + 1, ... (as 32 octets) for
    which pred(x) holds: deterministic, so the vectors never change."""
    x = int.from_bytes(start, "big")
    while not pred(x):
        x += 1
    return x


# P-256 (SEC 2 / FIPS 186-4 D.1.2.3).
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_A = P256_P - 3
P256_B = int("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
             16)
P256_N = int("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
             16)
P256_G = (int("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
              16),
          int("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
              16))


def p256_on_curve(pt):
    x, y = pt
    return (y * y - (x * x * x + P256_A * x + P256_B)) % P256_P == 0


def p256_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    (x1, y1), (x2, y2) = a, b
    if x1 == x2 and (y1 + y2) % P256_P == 0:
        return None
    if a == b:
        lam = (3 * x1 * x1 + P256_A) * pow(2 * y1, -1, P256_P)
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P256_P)
    x3 = (lam * lam - x1 - x2) % P256_P
    return (x3, (lam * (x1 - x3) - y1) % P256_P)


def p256_mul(k, pt):
    acc = None
    while k:
        if k & 1:
            acc = p256_add(acc, pt)
        pt = p256_add(pt, pt)
        k >>= 1
    return acc


def p256_bytes(pt):
    return pt[0].to_bytes(32, "big") + pt[1].to_bytes(32, "big")


RFC5903_P256 = {  # RFC 5903 section 8.1
    "i": "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433",
    "gi": "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"
          "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
    "r": "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53",
    "gr": "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
          "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab",
    "girx": "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de",
}


def keymat_pfs(variant, enctype, key, gxy, protocol, spi, ni, nr, length):
    """RFC 2409 section 5.5 KEYMAT with g(qm)^xy in front of protocol."""
    src = gxy + bytes([protocol]) + struct.pack(">I", spi) + ni + (nr or b"")
    out, k = b"", b""
    while len(out) < length:
        k = prf(variant, enctype, key, k + src)
        out += k
    return out[:length]


# Fixed MODP private values: the initiator's, a responder's chosen (by
# modp_search) so that g^xy has a leading zero octet, and another's so
# that its public value has one: both exercise the left-padding.
MODP_XI = int.from_bytes(bytes(range(0x61, 0x81)), "big")
MODP_XR_START = bytes(range(0x81, 0xa1))
MODP_XZ_START = bytes(range(0xa1, 0xc1))


# The fixed inputs of check_kink_keymat.c.
KEYS = [
    (17, "aes128-cts-hmac-sha1-96", bytes(range(0x10, 0x20))),
    (18, "aes256-cts-hmac-sha1-96", bytes(range(0x20, 0x40))),
    (20, "aes256-cts-hmac-sha384-192", bytes(range(0x40, 0x60))),
]
PROTOCOL = 3            # PROTO_IPSEC_ESP (RFC 2407 section 4.4.1)
SPI = 0x12345678
NI = bytes(range(0xa0, 0xa0 + 24))
NR = bytes(range(0xc0, 0xc0 + 20))
KEYMAT_LEN = 72         # e.g. AES-256 (32) + HMAC-SHA-256 (32) + 8 spare
PRF_INPUT = b"kink prf test input"


def c_hex(name, data):
    lines = ["static const char %s[] =" % name]
    h = data.hex()
    for i in range(0, len(h), 64):
        lines.append('    "%s"' % h[i:i + 64])
    lines[-1] += ";"
    return "\n".join(lines)


def main():
    for data, n, want in NFOLD_VECTORS:
        got = nfold(data, n).hex()
        if got != want:
            sys.exit("n-fold self-test failed for %r: %s" % (data, got))
    for enctype, key, want in RFC8009_PRF_VECTORS:
        got = prf_rfc8009(bytes.fromhex(key), b"test", enctype).hex()
        if got != want:
            sys.exit("RFC 8009 PRF self-test failed for %d: %s"
                     % (enctype, got))

    print("/* Generated by tests/unit/kink_vectors.py. */")
    print("/* n-fold(\"prf\", 128) */")
    print(c_hex("nfold_prf", nfold(b"prf", 16)))
    for enctype, name, key in KEYS:
        tag = name.replace("-", "_")
        print("\n/* %s (%d): key %s */" % (name, enctype, key.hex()))
        if enctype in (17, 18):
            print(c_hex("prf_rfc_" + tag, prf_rfc3962(key, PRF_INPUT)))
            print(c_hex("prf_racoon2_" + tag, prf_racoon2(key, PRF_INPUT)))
        print(c_hex("keymat_2msg_" + tag,
                    keymat("rfc", enctype, key, PROTOCOL, SPI, NI, None,
                           KEYMAT_LEN)))
        print(c_hex("keymat_3msg_" + tag,
                    keymat("rfc", enctype, key, PROTOCOL, SPI, NI, NR,
                           KEYMAT_LEN)))
        if enctype in (17, 18):
            print(c_hex("keymat_racoon2_" + tag,
                        keymat("racoon2", enctype, key, PROTOCOL, SPI, NI,
                               NR, KEYMAT_LEN)))

    dh_vectors()


def dh_vectors():
    """The DH and KEYMAT-with-PFS tables of check_kink_keymat.c."""
    h = "%X" % MODP_P
    if (MODP_P.bit_length() != 2048 or not h.startswith(MODP_P_HEAD) or
            not h.endswith(MODP_P_TAIL) or not is_probable_prime(MODP_P) or
            not is_probable_prime((MODP_P - 1) // 2)):
        sys.exit("MODP-2048 prime self-test failed")
    v = RFC5903_P256
    i, r = int(v["i"], 16), int(v["r"], 16)
    gi, gr = p256_mul(i, P256_G), p256_mul(r, P256_G)
    if (not p256_on_curve(P256_G) or p256_mul(P256_N, P256_G) is not None or
            p256_bytes(gi).hex() != v["gi"] or
            p256_bytes(gr).hex() != v["gr"] or
            "%064x" % p256_mul(i, gr)[0] != v["girx"] or
            p256_mul(r, gi) != p256_mul(i, gr)):
        sys.exit("P-256 self-test against RFC 5903 section 8.1 failed")

    xi = MODP_XI
    gxi = modp_public(xi)
    xr = modp_search(MODP_XR_START,
                     lambda x: modp_shared(xi, modp_public(x))[0] == 0)
    xz = modp_search(MODP_XZ_START, lambda x: modp_public(x)[0] == 0)
    gxr, gxz = modp_public(xr), modp_public(xz)
    shared_r, shared_z = modp_shared(xi, gxr), modp_shared(xi, gxz)
    assert shared_r == modp_shared(xr, gxi)
    assert shared_z == modp_shared(xz, gxi)

    print("\n/* MODP-2048 (RFC 3526 group 14) */")
    print(c_hex("modp_p", MODP_P.to_bytes(MODP_LEN, "big")))
    print(c_hex("modp_xi", xi.to_bytes(32, "big")))
    print(c_hex("modp_gxi", gxi))
    print("/* g^xy has a leading zero octet: */")
    print(c_hex("modp_xr", xr.to_bytes(32, "big")))
    print(c_hex("modp_gxr", gxr))
    print(c_hex("modp_gxy_ir", shared_r))
    print("/* the public value has a leading zero octet: */")
    print(c_hex("modp_xz", xz.to_bytes(32, "big")))
    print(c_hex("modp_gxz", gxz))
    print(c_hex("modp_gxy_iz", shared_z))
    print("/* p - g^xi: not in the prime-order subgroup */")
    print(c_hex("modp_neg_gxi",
                (MODP_P - int.from_bytes(gxi, "big")).to_bytes(MODP_LEN,
                                                               "big")))
    print("\n/* ECP-256: an RFC 5903 section 8.1 point with y + 1 (off the "
          "curve) */")
    off = (gi[0], (gi[1] + 1) % P256_P)
    assert not p256_on_curve(off)
    print(c_hex("ecp_gi_off_curve", p256_bytes(off)))

    # KEYMAT with PFS: the 3-message inputs of the KEYMAT vectors with
    # g^xy in front; MODP and ECP secrets, both PRF variants.
    girx = bytes.fromhex(v["girx"])
    cases = [
        ("aes128_cts_hmac_sha1_96_modp", "rfc", KEYS[0], shared_r, NR),
        ("aes256_cts_hmac_sha1_96_ecp", "rfc", KEYS[1], girx, NR),
        ("aes256_cts_hmac_sha1_96_ecp_racoon2", "racoon2", KEYS[1], girx,
         NR),
        ("aes256_cts_hmac_sha384_192_ecp_2msg", "rfc", KEYS[2], girx, None),
    ]
    print("\n/* KEYMAT with PFS (3-message Ni | Nr unless 2msg) */")
    for tag, variant, (enctype, _, key), gxy, nr in cases:
        print(c_hex("keymat_pfs_" + tag,
                    keymat_pfs(variant, enctype, key, gxy, PROTOCOL, SPI, NI,
                               nr, KEYMAT_LEN)))


if __name__ == "__main__":
    main()

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
    truncated to the length asked for.

AES comes from the `cryptography` package (AES-ECB only: CBC and the
ciphertext stealing are written out here), SHA-1/SHA-384/HMAC from hashlib.

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


if __name__ == "__main__":
    main()

# CRC-16 and COBS: both implementations against the shared vectors and each other.
import random

import codec
from testing import eq, unhex, vectors

try:
    import fastpath
except (ImportError, SyntaxError, ValueError, NotImplementedError):
    fastpath = None


def _crcs(data):
    out = [codec.crc16_plain(data, len(data)), codec.crc16(data)]
    if fastpath:
        out.append(fastpath.crc16_viper(data, len(data), 0xFFFF, codec.CRC_TABLE))
    return out


def test_viper_is_in_use_on_this_port():
    eq(codec.IMPL, "viper", "implementation")


def test_crc16_vectors():
    for case in vectors()["crc16"]:
        data = unhex(case["data_hex"])
        for got in _crcs(data):
            eq(got, case["crc"], case["name"])


def test_crc16_with_length_prefix_of_buffer():
    buf = bytearray(b"123456789xxxx")
    eq(codec.crc16(buf, 9), 0x29B1, "viper n")
    eq(codec.crc16_plain(buf, 9), 0x29B1, "plain n")


def _both_encoders():
    encs = [codec.cobs_encode_plain]
    decs = [codec.cobs_decode_plain]
    if fastpath:
        encs.append(fastpath.cobs_encode_viper)
        decs.append(fastpath.cobs_decode_viper)
    return encs, decs


def test_cobs_vectors():
    encs, decs = _both_encoders()
    for case in vectors()["cobs"]:
        decoded, encoded = unhex(case["decoded_hex"]), unhex(case["encoded_hex"])
        for enc in encs:
            out = bytearray(len(decoded) + len(decoded) // 254 + 2)
            n = enc(decoded, len(decoded), out)
            eq(bytes(out[:n]), encoded, case["name"] + " encode")
        for dec in decs:
            out = bytearray(len(encoded) + 1)
            n = dec(encoded, len(encoded), out)
            eq(bytes(out[:n]), decoded, case["name"] + " decode")


def test_cobs_rejects_invalid_input():
    for bad in (b"\x05\x01\x02", b"\x02\x00", b"\x00"):
        for dec in _both_encoders()[1]:
            eq(dec(bad, len(bad), bytearray(8)), -1, repr(bad))


def test_plain_and_viper_agree_on_random_buffers():
    random.seed(7)
    encs, decs = _both_encoders()
    for _ in range(200):
        n = random.getrandbits(8)
        data = bytes(random.getrandbits(8) if random.getrandbits(2) else 0 for _ in range(n))
        eq(len(set(_crcs(data))), 1, "crc agree")
        outs = []
        for enc in encs:
            buf = bytearray(n + n // 254 + 2)
            outs.append(bytes(buf[: enc(data, n, buf)]))
        eq(len(set(outs)), 1, "cobs encode agree")
        for dec in decs:
            buf = bytearray(len(outs[0]))
            eq(bytes(buf[: dec(outs[0], len(outs[0]), buf)]), data, "cobs round trip")

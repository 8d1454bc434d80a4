"""The ClientHello reader: real hellos from OpenSSL however they are framed and split,
and every malformed or oversized one refused with a reason, never a crash."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.egress.tls_hello import (
    ClientHello,
    HelloRefused,
    NotTLS,
    parse_client_hello,
    read_client_hello,
)
from tests.unit.sandbox.egress.loopback import (
    client_hello,
    reframed,
    sni_extension,
    synthetic_hello,
)

REAL = client_hello("pypi.test")


def read(data: bytes, max_bytes: int = 1 << 16, eof: bool = True) -> ClientHello:
    async def run() -> ClientHello:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        if eof:
            reader.feed_eof()
        return await read_client_hello(reader, max_bytes)

    return asyncio.run(run())


def refusal(data: bytes, max_bytes: int = 1 << 16) -> str:
    with pytest.raises(HelloRefused) as caught:
        read(data, max_bytes)
    return caught.value.reason


def test_a_real_hello_names_its_server() -> None:
    hello = read(REAL)
    assert (hello.server_name, hello.encrypted, hello.raw) == ("pypi.test", False, REAL)


def test_a_tls12_only_hello_names_its_server() -> None:
    context = ssl.create_default_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="files.pypi.test")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    assert read(outgoing.read()).server_name == "files.pypi.test"


@pytest.mark.parametrize("sizes", [[1], [1, 1, 1, 1], [3], [50, 1, 200], [4]])
def test_a_hello_split_across_records(sizes: list[int]) -> None:
    split = reframed(REAL, sizes)
    hello = read(split)
    assert hello.server_name == "pypi.test"
    assert hello.raw == split


def test_a_hello_arriving_in_pieces_is_read_whole_and_nothing_after_it() -> None:
    split = reframed(REAL, [10, 100])

    async def run() -> tuple[ClientHello, bytes]:
        reader = asyncio.StreamReader()

        async def feed() -> None:
            for at in range(0, len(split), 7):
                reader.feed_data(split[at : at + 7])
                await asyncio.sleep(0)
            reader.feed_data(b"\x17\x03\x03early")
            reader.feed_eof()

        feeding = asyncio.ensure_future(feed())
        hello = await read_client_hello(reader, 1 << 16)
        await feeding
        return hello, await reader.read()

    hello, rest = asyncio.run(run())
    assert hello.raw == split
    assert rest == b"\x17\x03\x03early"


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\n\r\n", b"\x80\x2e\x01\x00\x02", b"\x16\x02\x00\x00\x05", b"SSH-2.0"],
)
def test_what_is_not_tls_is_told_apart(data: bytes) -> None:
    with pytest.raises(NotTLS):
        read(data)


def test_a_short_non_tls_start_is_not_tls() -> None:
    with pytest.raises(NotTLS):
        read(b"GE")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (REAL[:-1], "closed before its ClientHello ended"),
        (b"\x16\x03\x01\x00\x00", "malformed TLS record"),
        (b"\x16\x03\x01\x41\x01" + bytes(16641), "malformed TLS record"),
        (reframed(REAL, [2])[:7] + b"\x15\x03\x03\x00\x02\x02\x28", "other than the ClientHello"),
        (reframed(REAL, [2])[:7] + b"\x16\x02\x00\x00\x01\x00", "not TLS"),
        (b"\x16\x03\x01\x00\x04\x02\x00\x00\x00", "not a ClientHello"),
        (synthetic_hello([sni_extension(b"a.test")]) + b"\x16\x03\x01\x00\x01\x00", ""),
    ],
)
def test_broken_records_are_refused(data: bytes, reason: str) -> None:
    if not reason:  # a second record after a whole hello is simply not read
        assert read(data).server_name == "a.test"
        return
    assert reason in refusal(data)


def test_trailing_handshake_bytes_in_the_hello_record_are_refused() -> None:
    body = REAL[5:] + b"\x00"
    data = b"\x16\x03\x01" + len(body).to_bytes(2, "big") + body
    assert refusal(data) == "more handshake data after the ClientHello"


def test_the_size_bound_holds_for_the_records_and_the_declared_length() -> None:
    assert refusal(REAL, max_bytes=len(REAL) - 1) == "ClientHello too large"
    assert read(REAL, max_bytes=len(REAL)).server_name == "pypi.test"
    declared = b"\x16\x03\x01\x00\x04\x01\xff\xff\xff"  # a 16 MiB hello announced
    assert refusal(declared) == "ClientHello too large"


def body_of(record: bytes) -> bytes:
    return record[9:]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x03\x03" + bytes(32) + b"\x21" + bytes(33), "malformed ClientHello"),
        (b"\x03\x03" + bytes(32) + b"\x00\x00\x03\x13\x01\x00\x01\x00", "malformed ClientHello"),
        (b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x00", "malformed ClientHello"),
        (b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00\x00\x09", "malformed"),
        (body_of(synthetic_hello([sni_extension(b"a.test")])) + b"x", "malformed ClientHello"),
        (body_of(synthetic_hello([sni_extension(b"a.test", name_type=1)])), "not a host name"),
        (body_of(synthetic_hello([sni_extension(b"")])), "not exactly one"),
        (body_of(synthetic_hello([sni_extension("é.test".encode())])), "not exactly one"),
        (body_of(synthetic_hello([sni_extension()])), "not exactly one"),
        (body_of(synthetic_hello([(0, b"\x00\x0a\x00\x00\x06a.test")])), "malformed"),
        (body_of(synthetic_hello([(0, b"\x00\x08\x00\x00\x06a.test\x00")])), "malformed"),
    ],
)
def test_malformed_hellos_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(HelloRefused) as caught:
        parse_client_hello(body)
    assert reason in caught.value.reason


def test_ech_and_missing_names_are_reported() -> None:
    assert parse_client_hello(body_of(synthetic_hello([]))) == (None, False)
    with_ech = synthetic_hello([(0xFE0D, b"\x00"), sni_extension(b"public.test")])
    assert parse_client_hello(body_of(with_ech)) == ("public.test", True)
    no_extensions = b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00"
    assert parse_client_hello(no_extensions) == (None, False)


@given(st.binary(max_size=600), st.integers(min_value=0, max_value=len(REAL)))
def test_any_bytes_are_refused_or_read_never_a_crash(noise: bytes, at: int) -> None:
    data = REAL[:at] + noise
    try:
        hello = read(data)
    except (HelloRefused, NotTLS):
        return
    assert hello.raw == data[: len(hello.raw)]
